"""`vre spans build --data_root DATA --new NEW`: the next span = the last span + new videos.

For Kubeflow retraining, where every run trains on one span (docs/kubeflow.md): the new span
holds the previous span's records and the new batch's (`vre extract --output_dir NEW`), copied
byte for byte, without running the CNN again (tfx_pipeline/span_builder.py).
"""

NAME = "spans"
HELP = "Build the next span from the previous span plus newly extracted videos (no CNN re-run)."


def add_arguments(parser):
    sub = parser.add_subparsers(dest="spans_action", required=True, metavar="ACTION")
    build = sub.add_parser("build", help=HELP, description=HELP)
    build.add_argument("--data_root", required=True, help="folder of span-<N> folders (or gs://)")
    build.add_argument(
        "--new", required=True, help="a `vre extract --output_dir` folder with the new videos"
    )
    build.add_argument(
        "--span", type=int, default=None, help="span number to write [the highest + 1]"
    )


def run(args) -> int:
    import json
    import sys

    from tfx_pipeline.shard_reading import CorruptShardError
    from tfx_pipeline.span_builder import SpanBuildError, build_span

    try:
        record = build_span(args.data_root, args.new, span=args.span)
    except (SpanBuildError, CorruptShardError) as e:
        print(f"vre spans build: {e}", file=sys.stderr)
        return 2
    summary = {k: record[k] for k in ("span", "previous_span", "videos", "new_videos")}
    print(json.dumps(summary))
    return 0
