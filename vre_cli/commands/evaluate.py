"""`vre evaluate`: coco-caption metrics of predicted captions against reference captions."""

NAME = "evaluate"
HELP = (
    "Score predicted captions against references with coco-caption's BLEU-1..4, METEOR, "
    "ROUGE_L, CIDEr and CIDEr-D (same numbers as pycocoevalcap)."
)


def add_arguments(parser):
    from vre_keras.caption_metrics.names import FAMILIES

    parser.add_argument(
        "--predictions",
        required=True,
        help="JSON {id: caption}, JSON/JSONL rows {video_id, caption}, or CSV",
    )
    parser.add_argument(
        "--references",
        required=True,
        help="JSON {id: [captions]}, coco annotations, MSR-VTT 'sentences', "
        "JSONL/CSV rows {video_id, caption}",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=list(FAMILIES),
        choices=list(FAMILIES),
        help="metric families to compute (default: all)",
    )
    parser.add_argument("--output", help="write the scores (and per-video scores) as JSON here")
    parser.add_argument(
        "--per_video", action="store_true", help="include each video's scores in the JSON output"
    )
    parser.add_argument(
        "--meteor_workers",
        type=int,
        default=None,
        help="METEOR worker processes (or JVMs with --meteor_engine jar) at once "
        "(default: the usable CPUs, at most 4)",
    )
    parser.add_argument(
        "--meteor_engine",
        choices=["port", "jar"],
        default="port",
        help="METEOR 1.5 by its aligner ported to Python (default) or by the jar itself "
        "(same scores; the jar is slower)",
    )
    parser.add_argument(
        "--only_predicted",
        action="store_true",
        help="score only the predicted ids (the references may cover more, e.g. a whole dataset)",
    )


def run(args) -> int:
    import json
    import sys

    from vre_keras.caption_metrics import CaptionInputError, JavaNotFoundError, evaluate_corpus
    from vre_keras.caption_metrics.caption_files import (
        CaptionFileError,
        format_table,
        load_predictions,
        load_references,
        write_text,
    )

    try:
        predictions = load_predictions(args.predictions)
        references = load_references(args.references)
        if args.only_predicted:
            references = {k: v for k, v in references.items() if k in predictions}
        if args.meteor_workers is not None and args.meteor_workers < 1:
            raise CaptionInputError(f"--meteor_workers must be >= 1, got {args.meteor_workers}")
        result = evaluate_corpus(
            predictions,
            references,
            metrics=args.metrics,
            meteor_workers=args.meteor_workers,
            meteor_scorer=args.meteor_engine,
            show_progress=True,
        )
    except (CaptionFileError, CaptionInputError, JavaNotFoundError) as e:
        print(f"vre evaluate: {e}", file=sys.stderr)
        return 2
    print(format_table(result.corpus, len(predictions)))
    report = {
        "scores": result.corpus,
        "num_videos": len(predictions),
        "predictions": str(args.predictions),
        "references": str(args.references),
    }
    if args.per_video:
        report["per_video"] = result.per_item
    if args.output:
        path = write_text(  # local or remote (gs://)
            args.output, json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        )
        print(f"wrote {path}")
    else:
        print(json.dumps(report if args.per_video else result.corpus, ensure_ascii=False))
    return 0
