"""`vre caption VIDEO... --server HOST:PORT`: caption videos with a served model.

The videos are decoded and their features extracted locally with the Beam job's own code
(`beam_jobs.video_decoding`, `beam_jobs.feature_extractor`), so they match the training features;
only the features travel to the server, through the official TF Serving gRPC stubs.
"""

NAME = "caption"
HELP = "Caption videos through a TF Serving-protocol server (vre serve or tensorflow/serving)."


def add_arguments(parser):
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files to caption")
    parser.add_argument(
        "--server", required=True, metavar="HOST:PORT", help="the server's gRPC address"
    )
    parser.add_argument("--model_name", default="vre", help="the served model's name [vre]")
    parser.add_argument(
        "--cnn_weights", default=None, help="ResNet152 (no top) weights: 'imagenet' or a path"
    )
    parser.add_argument("--vggish_weights", default=None, help="VGGish weights file")
    parser.add_argument(
        "--allow_random_weights",
        action="store_true",
        help="run without weight files (fixed-seed random weights: tests and demos only)",
    )
    parser.add_argument(
        "--batch_size", type=int, default=4, help="videos per feature batch and Predict call [4]"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per call [120]")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run(args) -> int:
    import json
    import sys
    import time

    from vre_common import storage

    missing = [v for v in args.videos if not storage.isfile(v)]  # local or remote (gs://)
    if missing:
        print(f"vre caption: no such video file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if ":" not in args.server:
        print(f"vre caption: --server {args.server!r} is not HOST:PORT", file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print(f"vre caption: --batch_size must be >= 1, got {args.batch_size}", file=sys.stderr)
        return 2

    from beam_jobs.feature_extractor import MissingWeightsError, VideoFeatureExtractor
    from beam_jobs.frame_sampling import sample_times
    from beam_jobs.video_decoding import VideoDecodeError, decode_video
    from serving.client import CaptionClient, CaptionServerError

    client = CaptionClient(args.server, args.model_name, timeout_s=args.timeout)
    try:
        # Ask the server first: an unreachable server or unknown model fails in seconds, before
        # the feature models are built.
        client.model_status()
    except CaptionServerError as e:
        print(f"vre caption: {e}", file=sys.stderr)
        return 1
    try:
        extractor = VideoFeatureExtractor(
            cnn_weights=args.cnn_weights,
            vggish_weights=args.vggish_weights,
            allow_random_weights=args.allow_random_weights,
        )
    except MissingWeightsError as e:
        print(f"vre caption: {e}", file=sys.stderr)
        return 2
    results, failed = [], 0
    with client:
        for paths in _chunks(args.videos, args.batch_size):
            decoded, decode_ms = [], []
            for path in paths:
                started = time.perf_counter()
                try:
                    decoded.append(decode_video(path))
                except VideoDecodeError as e:
                    print(f"vre caption: {e}", file=sys.stderr)
                    failed += 1
                    continue
                decode_ms.append((time.perf_counter() - started) * 1000.0)
            if not decoded:
                continue
            started = time.perf_counter()
            features = extractor.extract_batch(decoded)
            # The CNN runs once on the whole batch: each video is charged an equal share.
            features_ms = (time.perf_counter() - started) * 1000.0 / len(decoded)
            try:
                answers = client.caption_features(features)
            except CaptionServerError as e:
                print(f"vre caption: {e}", file=sys.stderr)
                return 1
            for video, answer, video_decode_ms in zip(decoded, answers, decode_ms):
                k = answer["key_frame"]
                times = sample_times(0.0, video.duration_s, len(answer["key_frame_probs"]))
                results.append(
                    {
                        "video": video.path,
                        "caption": answer["caption"],
                        # -1: a model row without refocus (Table 1) has no key frame.
                        "key_frame": k,
                        "key_frame_time_s": round(float(times[k]), 3) if k >= 0 else None,
                        "key_frame_prob": answer["key_frame_probs"][k] if k >= 0 else None,
                        "model_version": answer["model_version"],
                        "timing_ms": {
                            "decode": round(video_decode_ms, 1),
                            "features": round(features_ms, 1),
                            "predict": round(answer["predict_ms"], 1),
                        },
                    }
                )
    if args.json:
        print(json.dumps({"server": args.server, "model": args.model_name, "videos": results},
                         indent=2))
    else:
        for r in results:
            t = r["timing_ms"]
            key = (
                f"{r['key_frame']} at {r['key_frame_time_s']:.2f} s (p={r['key_frame_prob']:.2f})"
                if r["key_frame"] >= 0 else "none (the model has no refocus)"
            )
            print(
                f"{r['video']}\n  caption:   {r['caption']}\n"
                f"  key frame: {key}, model version {r['model_version']}\n"
                f"  timing:    decode {t['decode']:.0f} ms, features {t['features']:.0f} ms, "
                f"predict {t['predict']:.1f} ms"
            )
    return 1 if failed else 0
