"""`vre pipeline ACTION`: run the TFX pipeline here, or (kubeflow/) compile/submit/schedule it.

The actions are a registry: `run` is defined here; `kubeflow/cli_actions.py`, when present,
adds its own (`compile`, `submit`, `schedule`) through its `ACTIONS` dict of
`Action(help, add_arguments, run)`, so each part keeps its flags in its own module.
"""

import argparse
import dataclasses
import importlib
import logging
import sys
import time
from typing import Callable

NAME = "pipeline"
HELP = "Run the TFX training pipeline (ExampleGen, Trainer, Evaluator, Pusher) on a config file."


@dataclasses.dataclass(frozen=True)
class Action:
    """One `vre pipeline` action: its help line, its flags and what it does."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _add_run_arguments(parser):
    parser.add_argument(
        "--config", required=True,
        help="pipeline config, YAML or TOML (examples: tfx_pipeline/configs/*.yaml)",
    )
    parser.add_argument("--root", help="override the config's root folder (every relative path)")
    parser.add_argument(
        "--no_extract", action="store_true",
        help="do not run the Beam feature job even if the config's data.extract_argv is set",
    )


def _print_run(run, config) -> None:
    from tfx_pipeline.report import evaluation_report, pushed_model_dir

    print(f"\npipeline {config.pipeline_name!r} run {run.run_id}:")
    for node_id, state in run.states().items():
        print(f"  {node_id:32} {state}")
    report = evaluation_report(run)
    if report is not None:
        print("\n" + report.table())
    pushed = pushed_model_dir(run)
    print(f"\npushed model: {pushed}" if pushed else "\nno model pushed (not blessed)")


def _run_pipeline(args) -> int:
    from tfx_pipeline.config import ConfigError, load_config

    from vre_common import quiet_output

    quiet_output.set_level(logging.WARNING, args.verbose)
    try:
        config = load_config(args.config, overrides={"root": args.root} if args.root else None)
    except ConfigError as e:
        print(f"vre pipeline: error: {e}", file=sys.stderr)
        return 2
    from tfx_pipeline.features import ensure_features
    from tfx_pipeline.local_runner import run_local

    start = time.monotonic()
    try:
        if not args.no_extract:
            ensure_features(config)
        run = run_local(config)
    except (ConfigError, FileNotFoundError) as e:
        print(f"vre pipeline: error: {e}", file=sys.stderr)
        return 2
    _print_run(run, config)
    print(f"wall time {time.monotonic() - start:.0f} s")
    failed = [n for n, s in run.states().items() if s not in ("COMPLETE", "CACHED")]
    return 1 if failed else 0


ACTIONS = {
    "run": Action(
        "run the pipeline here with LocalDagRunner (SQLite ML Metadata, cached components)",
        _add_run_arguments, _run_pipeline,
    ),
}


def _all_actions() -> dict:
    actions = dict(ACTIONS)
    try:
        kubeflow_actions = importlib.import_module("kubeflow.cli_actions")
    except ModuleNotFoundError as e:
        if e.name not in ("kubeflow", "kubeflow.cli_actions"):
            raise  # a broken import inside the module must not be hidden
        return actions
    for name, action in kubeflow_actions.ACTIONS.items():
        actions.setdefault(name, action)
    return actions


def add_arguments(parser):
    sub = parser.add_subparsers(dest="pipeline_action", required=True, metavar="ACTION")
    for name, action in _all_actions().items():
        p = sub.add_parser(name, help=action.help, description=action.help)
        action.add_arguments(p)
        p.set_defaults(_pipeline_run=action.run)


def run(args) -> int:
    return int(args._pipeline_run(args) or 0)
