"""Serving benchmark: p50 / p99 latency and throughput of `vre serve` at 1 and 8 concurrent
clients (gRPC and REST), and the server's overhead as a ratio to calling the loaded SavedModel
in-process, all measured in one run on the same inputs.

The server runs as its own process (`python -m vre_cli serve`), as in production; the in-process
baseline and the batch-1 gRPC calls are interleaved request by request, so that load from other
processes on the machine hits both sides of the ratio alike.

    ./vre ... or: scripts/runtime.sh run python benchmarks/bench_serving.py [--model_dir DIR]

Without --model_dir it serves a tiny VRE captioner (hidden size 8) at Contract 2's full input
sizes (K=20, C=2048, N*M=49): inputs are full-size, the model compute is small, so the ratio is
close to the worst case for the server's overhead. --paper_size serves the paper's sizes
(hidden 512, 15 words, beam 5; untrained) to show the ratio with a realistic amount of compute.

--batching measures server-side batching instead: 1, 8 and 32 concurrent gRPC clients sending
one video per request to `vre serve` without and with `--enable_batching`, against the same
SavedModel called in-process on batches of 8 and 32 videos (measured before and after the
served runs, in the same run). Goal: served throughput with batching >= 0.8x the in-process
batched throughput at the same batch size (8 clients vs batch 8, 32 clients vs batch 32).

    scripts/runtime.sh run python benchmarks/bench_serving.py --paper_size --batching
"""

import argparse
import json
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vre_common import contract  # noqa: E402

MODEL_NAME = "vre"
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"


def build_default_model(export_dir: str, paper_size: bool = False) -> str:
    """A VRE captioner at full Contract-2 input sizes, exported (untrained weights).

    Args:
        export_dir: where to write the SavedModel.
        paper_size: the paper's sizes (hidden 512, 15 words, beam 5) instead of the tiny ones.
    """
    import keras

    from vre_keras.config import ModelConfig
    from vre_keras.export import export_saved_model
    from vre_keras.tiny_model import TINY_CAPTIONS
    from vre_keras.vocabulary import Vocabulary
    from vre_keras.vre_captioner import VRECaptioner

    keras.utils.set_random_seed(0)
    sizes = dict(
        num_frames=contract.NUM_FRAMES,
        channels=contract.FEATURE_CHANNELS,
        num_regions=contract.NUM_REGIONS,
    )
    config = ModelConfig(min_word_count=1, **sizes) if paper_size else ModelConfig.tiny(**sizes)
    vocabulary = Vocabulary.build(TINY_CAPTIONS, min_count=config.min_word_count)
    model = VRECaptioner(config, vocab_size=len(vocabulary)).build_all()
    model.freeze_key_frame_predictor()
    return export_saved_model(model, vocabulary, export_dir)


def features(batch: int, spec: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        name: rng.standard_normal([batch] + s.shape.as_list()[1:]).astype(np.float32)
        for name, s in spec.items()
    }


def summary(latencies_s: list[float], wall_s: float) -> dict:
    ms = sorted(x * 1000.0 for x in latencies_s)
    return {
        "requests": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "throughput_rps": round(len(ms) / wall_s, 2),
    }


def server_log_path(base_path: str) -> str:
    return os.path.join(os.path.dirname(base_path), "server.log")


def start_server(base_path: str, extra=()) -> tuple[subprocess.Popen, int, int]:
    import portpicker

    grpc_port, rest_port = portpicker.pick_unused_port(), portpicker.pick_unused_port()
    log = open(server_log_path(base_path), "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vre_cli",
            "serve",
            "--model_name",
            MODEL_NAME,
            "--model_base_path",
            base_path,
            "--port",
            str(grpc_port),
            "--host",
            "127.0.0.1",
            "--rest_api_port",
            str(rest_port),
            "--max_concurrent_requests",
            "64",
            "--grpc_max_threads",
            "64",
            *extra,
        ],
        cwd=ROOT,
        stderr=log,
        stdout=log,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vre serve exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{rest_port}/v1/models/{MODEL_NAME}", timeout=2
            ) as r:
                if json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE":
                    return proc, grpc_port, rest_port
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("vre serve did not become ready in 300 s")


def server_side_ms(log_path: str, count: int) -> list[float]:
    """The last `count` gRPC Predict latencies the server logged (its own view of a request)."""
    pattern = re.compile(r"grpc Predict model=\S+ OK ([\d.]+) ms")
    with open(log_path) as f:
        found = [float(m.group(1)) for line in f if (m := pattern.search(line))]
    return found[-count:]


def run_concurrent(call, clients: int, per_client: int) -> dict:
    latencies, errors = [], []
    lock = threading.Lock()

    def worker():
        mine = []
        for _ in range(per_client):
            started = time.perf_counter()
            try:
                call()
            except Exception as e:  # counted and reported, not hidden
                errors.append(repr(e))
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = summary(latencies, time.perf_counter() - started)
    result["errors"] = len(errors)
    return result


# The batching parameters of the --batching run (TF Serving's BatchingParameters text format):
# batches up to 32 videos; the first request of a batch waits at most 10 ms for others (a
# paper-size call takes ~0.2 s per video); one batch thread, as the model call uses both cores.
BATCHING_PARAMETERS = """max_batch_size { value: 32 }
batch_timeout_micros { value: 10000 }
max_enqueued_batches { value: 8 }
num_batch_threads { value: 1 }
"""


def in_process_batched(fn, spec, batch: int, calls: int) -> dict:
    """Throughput (videos/s) of the SavedModel called in-process on batches of `batch` videos."""
    import tensorflow as tf

    inputs = {k: tf.constant(v) for k, v in features(batch, spec, seed=batch).items()}
    fn(**inputs)  # untimed first call
    latencies = []
    started = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        out = fn(**inputs)
        _ = {k: v.numpy() for k, v in out.items()}
        latencies.append(time.perf_counter() - t0)
    result = summary(latencies, time.perf_counter() - started)
    result["videos_per_s"] = round(batch * calls / (time.perf_counter() - started), 2)
    return result


def batching_comparison(args, base: str, version_dir: str, model_desc: str) -> dict:
    """Served throughput without / with --enable_batching vs the in-process batched model."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from serving.warmup import make_predict_request

    fn = tf.saved_model.load(version_dir).signatures[contract.SERVING_DEFAULT]
    spec = dict(fn.structured_input_signature[1])
    calls = {8: max(2, args.requests // 8), 32: max(2, args.requests // 32)}
    results = {"model": model_desc, "batching_parameters": BATCHING_PARAMETERS}
    before = {b: in_process_batched(fn, spec, b, calls[b]) for b in (8, 32)}
    params = os.path.join(os.path.dirname(base), "batching.config")
    with open(params, "w") as f:
        f.write(BATCHING_PARAMETERS)
    for mode, extra in (
        ("no_batching", ()),
        ("batching", ("--enable_batching", f"--batching_parameters_file={params}")),
    ):
        proc, grpc_port, _ = start_server(base, extra)
        try:
            channel = grpc.insecure_channel(
                f"127.0.0.1:{grpc_port}",
                options=[
                    ("grpc.max_send_message_length", -1),
                    ("grpc.max_receive_message_length", -1),
                ],
            )
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            # One prebuilt request per client: the clients stand for other machines, so the
            # benchmark process does not spend the two cores building protos.
            request = make_predict_request(MODEL_NAME, features(1, spec))
            request.output_filter.extend(["caption", "key_frame"])

            def call():
                stub.Predict(request, timeout=600)

            for _ in range(4):
                call()
            for clients in (1, 8, 32):
                per_client = max(2, args.requests // clients) if clients > 1 else args.requests
                if clients == 32:
                    per_client = max(3, per_client)
                r = run_concurrent(call, clients, per_client)
                results[f"grpc_{clients}_clients_{mode}"] = r
                print(f"{mode} {clients} clients: {r}", flush=True)
            channel.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    after = {b: in_process_batched(fn, spec, b, calls[b]) for b in (8, 32)}
    for b in (8, 32):
        rate = (before[b]["videos_per_s"] + after[b]["videos_per_s"]) / 2
        results[f"in_process_batch{b}"] = {
            **after[b],
            "videos_per_s": round(rate, 2),
            "videos_per_s_before_after": [before[b]["videos_per_s"], after[b]["videos_per_s"]],
        }
        served = results[f"grpc_{b}_clients_batching"]["throughput_rps"]
        results[f"ratio_served_batching_vs_in_process_batch{b}"] = round(served / rate, 3)
    return results


def print_batching(results: dict):
    print(f"model: {results['model']}")
    print(f"{'measurement':34} {'p50 ms':>9} {'p99 ms':>9} {'videos/s':>9} {'errors':>7}")
    for k, r in results.items():
        if isinstance(r, dict) and "p50_ms" in r:
            rate = r.get("videos_per_s", r["throughput_rps"])
            print(
                f"{k:34} {r['p50_ms']:9.1f} {r['p99_ms']:9.1f} {rate:9.2f} {r.get('errors', 0):7d}"
            )
    for b in (8, 32):
        print(
            f"served with batching, {b} clients / in-process batch {b}: "
            f"{results[f'ratio_served_batching_vs_in_process_batch{b}']}x (goal >= 0.8x)"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", help="a SavedModel to serve (default: build the tiny one)")
    parser.add_argument(
        "--paper_size",
        action="store_true",
        help="build the paper-size model (hidden 512, beam 5) instead of the tiny one",
    )
    parser.add_argument(
        "--batching",
        action="store_true",
        help="compare served throughput without / with --enable_batching at 1, 8 and 32 "
        "clients against the in-process model at batch 8 and 32",
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first")
    parser.add_argument(
        "--output", help=f"JSON results file [{RESULTS}, or serving_paper_size.json beside it]"
    )
    args = parser.parse_args(argv)
    if args.output is None:
        name = "serving_paper_size.json" if args.paper_size else RESULTS.name
        if args.batching:
            name = name.replace("serving", "serving_batching")
        args.output = str(RESULTS.with_name(name))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_status_pb2,
        model_service_pb2_grpc,
        prediction_service_pb2_grpc,
    )

    from serving.warmup import make_predict_request

    work = tempfile.mkdtemp(prefix="bench_serving_")
    base = os.path.join(work, "models")
    os.makedirs(base)
    version_dir = os.path.join(base, "1")
    if args.model_dir:
        os.symlink(os.path.abspath(args.model_dir), version_dir)
        model_desc = os.path.abspath(args.model_dir)
    else:
        build_default_model(version_dir, args.paper_size)
        size = "paper-size (hidden 512, beam 5)" if args.paper_size else "tiny (hidden 8)"
        model_desc = f"{size} VRE captioner at K=20, C=2048, N*M=49, untrained"

    if args.batching:
        results = batching_comparison(args, base, version_dir, model_desc)
        shutil.rmtree(work)
        results["machine"] = {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        print_batching(results)
        pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.output}")
        return 0

    fn = tf.saved_model.load(version_dir).signatures[contract.SERVING_DEFAULT]
    spec = dict(fn.structured_input_signature[1])
    proc, grpc_port, rest_port = start_server(base)
    results = {"model": model_desc, "requests_per_measurement": args.requests}
    try:
        channel = grpc.insecure_channel(
            f"127.0.0.1:{grpc_port}",
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        status_stub = model_service_pb2_grpc.ModelServiceStub(channel)
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = MODEL_NAME
        inputs1 = features(1, spec)
        request1 = make_predict_request(MODEL_NAME, inputs1)
        rest_body1 = json.dumps(
            {"instances": [{k: v[0].tolist() for k, v in inputs1.items()}]}
        ).encode()
        rest_url = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL_NAME}:predict"

        def in_process():
            out = fn(**{k: tf.constant(v) for k, v in inputs1.items()})
            return {k: v.numpy() for k, v in out.items()}

        def grpc_call():
            # Building the request from numpy is part of what a client pays.
            stub.Predict(make_predict_request(MODEL_NAME, inputs1), timeout=120)

        def rest_call():
            req = urllib.request.Request(
                rest_url, data=rest_body1, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=120) as r:
                r.read()

        for _ in range(args.warmup):
            in_process()
            grpc_call()
            rest_call()
        stub.Predict(request1, timeout=120)

        # Side by side: in-process and gRPC alternate request by request.
        local, remote = [], []
        wall_local = wall_remote = 0.0
        for _ in range(args.requests):
            t0 = time.perf_counter()
            in_process()
            t1 = time.perf_counter()
            grpc_call()
            t2 = time.perf_counter()
            local.append(t1 - t0)
            remote.append(t2 - t1)
            wall_local += t1 - t0
            wall_remote += t2 - t1
        results["in_process_batch1"] = summary(local, wall_local)
        results["grpc_1_client_batch1"] = summary(remote, wall_remote)
        results["grpc_1_client_batch1"]["errors"] = 0
        handler = server_side_ms(server_log_path(base), args.requests)
        if len(handler) == args.requests:
            # The server's own timing of the same requests: model call plus (de)coding, without
            # the transport; the rest of the gRPC latency is moving ~565 KB through gRPC.
            results["grpc_server_side_batch1"] = summary([x / 1000.0 for x in handler], wall_remote)
            results["grpc_server_side_batch1"]["throughput_rps"] = None
        results["overhead_ratio_p50"] = round(
            results["grpc_1_client_batch1"]["p50_ms"] / results["in_process_batch1"]["p50_ms"], 3
        )
        results["overhead_ratio_mean"] = round(
            results["grpc_1_client_batch1"]["mean_ms"] / results["in_process_batch1"]["mean_ms"], 3
        )
        # The transport's floor: a call that does no model work.
        results["grpc_status_1_client"] = run_concurrent(
            lambda: status_stub.GetModelStatus(status_request, timeout=30), 1, args.requests
        )
        per_client = max(1, args.requests // 8)
        results["grpc_8_clients_batch1"] = run_concurrent(grpc_call, 8, per_client)
        results["rest_1_client_batch1"] = run_concurrent(rest_call, 1, args.requests)
        results["rest_8_clients_batch1"] = run_concurrent(rest_call, 8, per_client)
        results["in_process_8_threads_batch1"] = run_concurrent(in_process, 8, per_client)
        channel.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    shutil.rmtree(work)  # kept only when the run failed, for server.log

    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    rows = [k for k in results if isinstance(results[k], dict) and "p50_ms" in results[k]]
    print(f"model: {model_desc}")
    print(f"{'measurement':30} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9} {'errors':>7}")
    for k in rows:
        r = results[k]
        rps = "-" if r["throughput_rps"] is None else f"{r['throughput_rps']:.1f}"
        print(f"{k:30} {r['p50_ms']:9.2f} {r['p99_ms']:9.2f} {rps:>9} {r.get('errors', 0):7d}")
    print(
        f"server overhead at batch 1 (gRPC / in-process): p50 {results['overhead_ratio_p50']}x, "
        f"mean {results['overhead_ratio_mean']}x (goal <= 1.2x)"
    )
    pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
