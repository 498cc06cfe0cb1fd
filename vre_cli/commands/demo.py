"""`vre demo` (what `make demo` runs): sample videos to captions through the whole system."""

import logging
import sys
import time

NAME = "demo"
HELP = (
    "Sample videos -> Beam features -> TFX pipeline (tiny model) -> pushed SavedModel -> local "
    "TF Serving-protocol server -> captions, key frames and the Evaluator's metrics."
)


def add_arguments(parser):
    parser.add_argument(
        "--root", default="/tmp/vre-demo",
        help="folder for everything the demo writes (a re-run reuses features and cache)",
    )


def run(args) -> int:
    from vre_common import quiet_output

    quiet_output.set_level(logging.WARNING, args.verbose)
    from tfx_pipeline.demo import RANDOM_WEIGHTS_NOTICE, format_demo, run_demo

    print(RANDOM_WEIGHTS_NOTICE, flush=True)
    print(f"vre demo: working in {args.root}", flush=True)
    start = time.monotonic()
    try:
        result = run_demo(args.root)
    except (RuntimeError, FileNotFoundError, ValueError) as e:
        print(f"vre demo: failed: {e}", file=sys.stderr)
        return 1
    print("\n" + format_demo(result))
    print(f"vre demo: done in {time.monotonic() - start:.0f} s")
    return 0
