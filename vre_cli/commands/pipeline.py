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
    if pushed:
        print(f"\npushed model: {pushed}")
    else:
        ran = run.states().get("Evaluator") in ("COMPLETE", "CACHED")
        print("\nno model pushed" + (" (not blessed)" if ran else " (the run stopped early)"))


def _data_guard_error(error: BaseException) -> str | None:
    """The message of a data guard's failure (validation gate, corrupt shard) in `error`'s chain.

    Beam may re-raise a worker's error with the step name added, so a guard's message is also
    recognised by its text.
    """
    from tfx_pipeline.data_checks import DataValidationError
    from tfx_pipeline.shard_reading import CorruptShardError

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error)
        if isinstance(error, (DataValidationError, CorruptShardError)):
            return text
        for marker in ("data validation failed:", "TFRecord shard "):
            if marker in text:
                return text[text.index(marker) :].strip()
        error = error.__cause__ or error.__context__
    return None


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
    except Exception as e:  # LocalDagRunner re-raises the error of the component that failed
        guard = _data_guard_error(e)
        if guard is None:
            raise
        # Bad data, not a bug: the guard's own report, then what ran, without a traceback.
        print(f"vre pipeline: the run stopped on bad data:\n{guard}", file=sys.stderr)
        from tfx_pipeline.run_results import read_run

        _print_run(read_run(config.resolved_metadata_path, config.pipeline_name), config)
        return 1
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
