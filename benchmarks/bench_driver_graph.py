"""The feature job's driver stays O(1) in the number of videos: graph size and driver peak RSS.

    scripts/runtime.sh run python benchmarks/bench_driver_graph.py [--rows 1000 100000]

For each manifest size (generated JSONL, 20 captions per video like MSR-VTT), a fresh process
builds the job's graph and serializes it as a runner would submit it
(`pipeline.to_runner_api()`), then reports the proto's size and its own peak RSS:
- `manifest`: the job as it is (workers read and parse the manifest; the graph holds its name);
- `create (before)`: the former driver, which read every record and embedded them with
  `beam.Create(records)`, for contrast, measured side by side in the same run.
Nothing is executed (no worker, no model). Prints a table and writes
benchmarks/results/driver_graph.json.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "driver_graph.json"
CAPTIONS_PER_VIDEO = 20
MODES = ("manifest", "create (before)")


def write_manifest(path, rows):
    """A JSONL manifest of `rows` videos (paths need not exist: nothing is decoded)."""
    with open(path, "w") as f:
        for i in range(rows):
            row = {
                "id": f"video{i}",
                "path": f"gs://bucket/videos/video{i}.mp4",
                "split": ("train", "validation", "test")[i % 3],
                "captions": [
                    f"caption {j} of video {i}: a person is doing something on a stage"
                    for j in range(CAPTIONS_PER_VIDEO)
                ],
            }
            f.write(json.dumps(row) + "\n")


def measure(mode, manifest, output_dir):
    """Builds the job's graph in this process; returns its proto size, time and peak RSS."""
    import apache_beam as beam

    from beam_jobs import feature_job
    from beam_jobs.model_handler import KerasFeatureModelHandler

    start = time.perf_counter()
    handler = KerasFeatureModelHandler({"allow_random_weights": True})
    settings = {"num_frames": 20, "weights": {}}
    pipeline = beam.Pipeline(runner="FnApiRunner")
    if mode == "manifest":
        feature_job.build_pipeline(pipeline, manifest, output_dir, handler, settings)
    else:
        from beam_jobs.adapters.manifest import read_manifest

        records = read_manifest(manifest)  # the former driver: every record in memory...
        videos = pipeline | "ListVideos" >> beam.Create(records, reshuffle=False)  # ...and graph
        _ = videos | "ExtractFeatures" >> feature_job.ExtractFeatures(handler)
    proto_bytes = len(pipeline.to_runner_api().SerializeToString())
    return {
        "proto_bytes": proto_bytes,
        "build_s": time.perf_counter() - start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--measure", nargs=3, metavar=("MODE", "MANIFEST", "OUT"), help="internal")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return

    rows_out = []
    with tempfile.TemporaryDirectory(prefix="vre-bench-driver-") as tmp:
        for rows in args.rows:
            manifest = os.path.join(tmp, f"videos-{rows}.jsonl")
            write_manifest(manifest, rows)
            size_mb = os.path.getsize(manifest) / 1e6
            for mode in MODES:
                done = subprocess.run(
                    [sys.executable, __file__, "--measure", mode, manifest, tmp],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(done.stdout.strip().splitlines()[-1])
                rows_out.append({"rows": rows, "manifest_mb": size_mb, "mode": mode, **result})
    small, large = min(args.rows), max(args.rows)

    def pick(mode, rows):
        return next(r for r in rows_out if r["mode"] == mode and r["rows"] == rows)

    ratios = {
        mode: {
            "proto_bytes": pick(mode, large)["proto_bytes"] / pick(mode, small)["proto_bytes"],
            "peak_rss_mb": pick(mode, large)["peak_rss_mb"] / pick(mode, small)["peak_rss_mb"],
        }
        for mode in MODES
    }
    print(f"{'videos':>8} {'manifest MB':>11} {'driver':16} {'graph KB':>10} {'peak RSS MB':>11}")
    for r in rows_out:
        print(
            f"{r['rows']:8d} {r['manifest_mb']:11.1f} {r['mode']:16} "
            f"{r['proto_bytes'] / 1024:10.1f} {r['peak_rss_mb']:11.0f}"
        )
    for mode, ratio in ratios.items():
        print(
            f"{mode}: {large} / {small} videos -> graph x{ratio['proto_bytes']:.2f}, "
            f"driver peak RSS x{ratio['peak_rss_mb']:.2f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "driver_graph",
                "captions_per_video": CAPTIONS_PER_VIDEO,
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "rows": rows_out,
                "ratios_large_to_small": ratios,
                "goal": "manifest mode: graph size and driver peak RSS flat (ratio ~1)",
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
