"""`vre pipeline compile|submit|schedule`: the Kubeflow actions of the `vre pipeline` command.

`vre_cli/commands/pipeline.py` (the TFX part) owns `vre pipeline` and its `run` action; it takes
the actions below from `ACTIONS` when this module is present. Each action is
`Action(help, add_arguments(parser), run(args) -> int)`, the shape pipeline.py's registry uses.

    vre pipeline compile --target kubeflow --image IMAGE --output FILE [--config CONFIG]
    vre pipeline submit  --host URL --package FILE [--data_root URI] [--serving_base URI] ...
    vre pipeline schedule --host URL --cron EXPR --package FILE ...
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable

DEFAULT_CONFIG = str(pathlib.Path(__file__).resolve().parent / "configs" / "msrvtt.yaml")
TARGETS = ("kubeflow",)


@dataclasses.dataclass(frozen=True)
class Action:
    """One `vre pipeline` action: its help line, its flags and what it does."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- compile ---------------------------------------------------------------------------------


def _add_compile_source(parser, required_image):
    parser.add_argument(
        "--image",
        required=required_image,
        help="container image every component runs in (built from kubeflow/Dockerfile)",
    )
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help="pipeline config (YAML/TOML, as for `vre pipeline run`); "
        "default: kubeflow/configs/msrvtt.yaml",
    )
    parser.add_argument("--display_name", help="name shown in the KFP UI (default: pipeline_name)")


def _add_compile_arguments(parser):
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default="kubeflow",
        help="orchestrator to compile for (Kubeflow Pipelines v2, via TFX KubeflowV2DagRunner)",
    )
    parser.add_argument(
        "--output",
        required=True,
        help="package to write: .yaml (KFP PipelineSpec, what submit uploads) or .json "
        "(TFX PipelineJob)",
    )
    _add_compile_source(parser, required_image=True)


def _compile(args, output) -> None:
    from kubeflow.compiler import compile_config

    spec = compile_config(args.config, args.image, output, display_name=args.display_name)
    params = ", ".join(sorted(spec.root.input_definitions.parameters))
    print(
        f"compiled {spec.pipeline_info.name!r}: {len(spec.root.dag.tasks)} tasks, "
        f"image {args.image}, run-time parameters: {params} -> {output}"
    )


def _run_compile(args) -> int:
    _compile(args, args.output)
    return 0


# --- submit and schedule ---------------------------------------------------------------------


def _parse_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--param {text!r} must look like NAME=VALUE")
    return name, value


def _add_submit_arguments(parser):
    parser.add_argument(
        "--host",
        default=os.environ.get("KF_PIPELINES_ENDPOINT"),
        help="KFP API URL, e.g. http://localhost:8080 (default: $KF_PIPELINES_ENDPOINT); "
        "a bearer token may be given in $KF_PIPELINES_TOKEN",
    )
    parser.add_argument(
        "--package",
        help="compiled package (vre pipeline compile); without it, --image "
        "(and --config) compile one first",
    )
    _add_compile_source(parser, required_image=False)
    parser.add_argument("--experiment", default="vre", help="KFP experiment (created if missing)")
    parser.add_argument("--namespace", help="user namespace of a multi-user Kubeflow")
    parser.add_argument(
        "--service_account",
        default="vre-pipeline",
        help="Kubernetes service account of the run's pods (kubeflow/manifests); '' for KFP's",
    )
    parser.add_argument("--pipeline_root", help="override the spec's default pipeline root")
    parser.add_argument("--data_root", help="run-time parameter data_root: folder of span-N/")
    parser.add_argument(
        "--serving_base", help="serving base for the Pusher: <base>/<model name>/<version>/"
    )
    parser.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="any other run-time parameter (repeatable)",
    )


def _add_run_arguments(parser):
    _add_submit_arguments(parser)
    parser.add_argument("--run_name", help="run display name (default: <pipeline> <UTC time>)")


def _add_schedule_arguments(parser):
    _add_submit_arguments(parser)
    parser.add_argument(
        "--cron",
        required=True,
        help="when to retrain: 5-field cron ('0 3 * * *': daily 03:00 UTC), 6-field with "
        "seconds, or @daily / @every 12h",
    )
    parser.add_argument("--job_name", help="recurring run name (default: <pipeline> retraining)")
    parser.add_argument(
        "--max_concurrency", type=int, default=1, help="runs at once (1: never overlap)"
    )
    parser.add_argument(
        "--catchup", action="store_true", help="after a pause, run every missed interval"
    )
    parser.add_argument("--start_time", help="RFC 3339 time of the first possible trigger")


def _target(args):
    from kubeflow.submission import Target, check_host

    if not args.host:
        raise ValueError("--host is required (or set KF_PIPELINES_ENDPOINT)")
    return Target(
        host=check_host(args.host),
        experiment=args.experiment,
        namespace=args.namespace,
        service_account=args.service_account or None,
        pipeline_root=args.pipeline_root,
    )


def _with_package(args, submit: Callable[[str], object]) -> int:
    """Calls `submit(package path)`, compiling a temporary package first when none is given."""
    if args.package:
        if args.image:
            raise ValueError("give either --package or --image (to compile one), not both")
        result = submit(args.package)
    elif args.image:
        with tempfile.TemporaryDirectory(prefix="vre-kfp-") as tmp:
            package = os.path.join(tmp, "pipeline.yaml")
            _compile(args, package)
            result = submit(package)
    else:
        raise ValueError("--package FILE (a compiled pipeline) or --image IMAGE is required")
    print(json.dumps(dataclasses.asdict(result), indent=1, sort_keys=True))
    return 0


def _run_submit(args) -> int:
    from kubeflow.submission import submit_run

    target = _target(args)
    return _with_package(
        args,
        lambda package: submit_run(
            target,
            package,
            data_root=args.data_root,
            serving_base=args.serving_base,
            extra_params=dict(args.param),
            run_name=args.run_name,
        ),
    )


def _run_schedule(args) -> int:
    from kubeflow.cron import normalize_cron
    from kubeflow.submission import schedule_run

    normalize_cron(args.cron)  # refuse a bad expression before compiling or uploading anything
    target = _target(args)
    return _with_package(
        args,
        lambda package: schedule_run(
            target,
            package,
            args.cron,
            data_root=args.data_root,
            serving_base=args.serving_base,
            extra_params=dict(args.param),
            job_name=args.job_name,
            max_concurrency=args.max_concurrency,
            catchup=args.catchup,
            start_time=args.start_time,
        ),
    )


def _report_server_errors(run, args) -> int:
    """The KFP API refusing a request, or not answering, ends with one line and exit code 1."""
    if getattr(args, "host", None) is None:
        return run(args)
    import kfp_server_api
    import urllib3

    try:
        return run(args)
    except kfp_server_api.ApiException as e:
        body = (e.body or "").strip().replace("\n", " ")[:500]
        print(
            f"vre pipeline: the KFP API at {args.host} answered {e.status} {e.reason}: {body}",
            file=sys.stderr,
        )
    except urllib3.exceptions.HTTPError as e:
        print(f"vre pipeline: cannot reach the KFP API at {args.host}: {e}", file=sys.stderr)
    return 1


def _friendly(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad input (ValueError, a missing file) ends with one clear line and exit code 2."""

    def wrapped(args) -> int:
        try:
            return _report_server_errors(run, args)
        except (ValueError, FileNotFoundError) as e:
            print(f"vre pipeline: error: {e}", file=sys.stderr)
            return 2

    return wrapped


ACTIONS = {
    "compile": Action(
        "compile the pipeline for Kubeflow Pipelines (KFP v2 spec via TFX KubeflowV2DagRunner)",
        _add_compile_arguments,
        _friendly(_run_compile),
    ),
    "submit": Action(
        "upload the compiled pipeline to Kubeflow Pipelines and start a run now",
        _add_run_arguments,
        _friendly(_run_submit),
    ),
    "schedule": Action(
        "upload the compiled pipeline and create a recurring run (scheduled retraining)",
        _add_schedule_arguments,
        _friendly(_run_schedule),
    ),
}
