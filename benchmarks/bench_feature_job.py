"""Throughput of the feature job next to the bare CNN forward pass on the same frames.

    scripts/runtime.sh run python -m benchmarks.bench_feature_job [--repeats 3] [--workers 1 2]

Measured side by side in one run:
- bare CNN: ResNet152 (the job's compiled forward with the Eq. 2/3 poolings) on the already
  decoded frames of every video, in batches of the job's batch size;
- the whole job (decode in a subprocess, RunInference, TFRecord writing, metadata) with the
  DirectRunner's multi-processing mode and 1, then 2 workers.
A job's wall time includes starting workers and building ResNet152 in each, which dominates a
small run; the steady-state rate is therefore taken as (N - 1) / (T_N - T_1), from a run on N
videos and a run on 1 video with the same settings. The goal: job / bare CNN >= 0.85.
Prints a table and writes benchmarks/results/feature_job.json.
"""

import argparse
import json
import os
import pathlib
import platform
import tempfile
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "feature_job.json"


def _records(repeats):
    from beam_jobs.video_record import VideoRecord
    from vre_common.sample_data import sample_videos

    return [
        VideoRecord(f"{v['id']}_{i}", v["path"], v["split"], tuple(v["captions"]))
        for i in range(repeats)
        for v in sample_videos()
    ]


def bench_bare_cnn(records, batch_size):
    """(seconds, frames) of the CNN forward alone on the decoded frames of `records`."""
    import numpy as np

    from beam_jobs.feature_extractor import VideoFeatureExtractor
    from beam_jobs.video_decoding import decode_video

    extractor = VideoFeatureExtractor(allow_random_weights=True, use_audio=False)
    frames = [decode_video(r.path).frames for r in records]
    extractor._cnn_forward(np.stack(frames[:batch_size]))  # trace and warm up, not timed
    start = time.perf_counter()
    for i in range(0, len(frames), batch_size):
        temporal, _ = extractor._cnn_forward(np.stack(frames[i : i + batch_size]))
        temporal.numpy()
    return time.perf_counter() - start, sum(len(f) for f in frames)


def bench_job(records, workers, batch_size):
    """Wall seconds of the whole job on `records` with `workers` DirectRunner processes."""
    from beam_jobs.feature_job import run_feature_job

    with tempfile.TemporaryDirectory(prefix="vre-bench-") as out:
        start = time.perf_counter()
        metadata = run_feature_job(
            records,
            out,
            allow_random_weights=True,
            batch_size=batch_size,
            pipeline_args=[
                "--direct_running_mode=multi_processing",
                f"--direct_num_workers={workers}",
            ],
        )
        seconds = time.perf_counter() - start
    if metadata["videos_ok"] != len(records):
        raise RuntimeError(f"the job wrote {metadata['videos_ok']} of {len(records)} videos")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="copies of the 4 sample videos")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch_size", type=int, default=2)
    args = parser.parse_args(argv)

    records = _records(args.repeats)
    n = len(records)
    frames_per_video = 20
    cnn_s, frames = bench_bare_cnn(records, args.batch_size)
    rows = [
        {
            "what": "bare CNN forward (same frames)",
            "seconds": cnn_s,
            "videos_per_s": n / cnn_s,
            "frames_per_s": frames / cnn_s,
        }
    ]
    for workers in args.workers:
        one = bench_job(records[:1], workers, args.batch_size)
        full = bench_job(records, workers, args.batch_size)
        steady = (n - 1) / (full - one)
        rows.append(
            {
                "what": f"job, {workers} worker(s), wall",
                "seconds": full,
                "videos_per_s": n / full,
                "frames_per_s": n * frames_per_video / full,
            }
        )
        rows.append(
            {
                "what": f"job, {workers} worker(s), steady state",
                "seconds": full - one,
                "videos_per_s": steady,
                "frames_per_s": steady * frames_per_video,
                "ratio_to_bare_cnn": steady / (n / cnn_s),
            }
        )
    print(
        f"{n} videos ({args.repeats} x 4 samples), {frames_per_video} frames each, "
        f"batch {args.batch_size}, {os.cpu_count()} cores"
    )
    print(f"{'measurement':40} {'s':>8} {'videos/s':>9} {'frames/s':>9} {'ratio':>6}")
    for row in rows:
        ratio = row.get("ratio_to_bare_cnn")
        print(
            f"{row['what']:40} {row['seconds']:8.1f} {row['videos_per_s']:9.3f} "
            f"{row['frames_per_s']:9.1f} {'' if ratio is None else f'{ratio:6.2f}'}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "feature_job",
                "videos": n,
                "batch_size": args.batch_size,
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_at_end": os.getloadavg(),
                "rows": rows,
                "goal": "steady-state job videos/s >= 0.85 x bare CNN videos/s",
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
