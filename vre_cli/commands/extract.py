"""`vre extract`: videos -> Contract-1 TFRecords with the Beam feature job (beam_jobs)."""

import argparse
import sys

NAME = "extract"
HELP = (
    "Extract ResNet152 / VGGish features of MSR-VTT, MSVD or a manifest's videos into TFRecords "
    "(a Beam job; Beam options after '--')."
)


def add_arguments(parser):
    from beam_jobs.job_args import add_job_arguments  # argparse only: `vre --help` stays fast

    add_job_arguments(parser)
    parser.add_argument(
        "--no_progress", action="store_true", help="no progress lines during a local run"
    )
    parser.add_argument(
        "beam_args",
        nargs=argparse.REMAINDER,
        help="Beam pipeline options after '--', e.g. -- --runner=DataflowRunner "
        "--setup_file=./setup.py (default: local, multi-processing, 2 workers)",
    )


def run(args) -> int:
    import logging

    from beam_jobs.feature_extractor import MissingWeightsError
    from beam_jobs.feature_job import FailureRatioExceededError, run_from_args

    from vre_common import quiet_output

    quiet_output.set_level(logging.INFO, args.verbose)
    beam_args = [a for a in args.beam_args if a != "--"]
    try:
        metadata = run_from_args(args, beam_args, show_progress=not args.no_progress)
    except (MissingWeightsError, ValueError, FileNotFoundError) as e:
        print(f"vre extract: {e}", file=sys.stderr)
        return 2
    except FailureRatioExceededError as e:
        print(f"vre extract: FAILED: {e}", file=sys.stderr)
        return 1
    print(
        f"vre extract: {metadata['videos_ok']} of {metadata['videos_total']} videos written to "
        f"{args.output_dir} ({metadata['per_split']}), {metadata['videos_failed']} in "
        f"dead_letter.jsonl, {metadata['videos_no_audio']} without audio"
    )
    return 0
