"""The whole system with every path on gs://, against a GCS-protocol server on loopback.

`vre extract` (Beam) → `vre pipeline run` (TFX: ExampleGen → statistics → Trainer → Evaluator →
Pusher) → `vre serve` + `vre caption`, each as its own process, with the videos, the manifest,
the data root (records, metadata, dead letter), the pipeline root (Trainer run dir with
checkpoints and TensorBoard logs, every artifact), and the serving base all in a bucket of the
loopback server (tests/remote_storage/gcs_loopback.py: TF's GCS filesystem reaches it through a
TLS-terminating proxy, Beam's GCS client through STORAGE_EMULATOR_HOST).

Only ML Metadata stays local: the local runner's store is a SQLite file (an orchestrator
database, not a pipeline output), here in the test's temp folder.

Fails closed: every process's only way out is the loopback server (proxy variables for all
HTTP(S), GCE metadata on a closed port, loopback-only credentials), refused requests must be zero,
and both clients must have been seen by the server. Nothing may be written locally outside the
test's temp folders: the processes run in an empty working directory with HOME and TMPDIR in the
test's temp folder, and the checkout must not change.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.remote_storage.gcs_loopback import GCS_HOSTS, GcsLoopback, _free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BUCKET = "vre-e2e"
GS = f"gs://{BUCKET}"
# A long-enough budget for each step on a busy 2-core machine; a hang fails instead of blocking.
STEP_TIMEOUT_S = 900


def _checkout_state(project_root) -> set[str]:
    """Untracked and ignored files of the checkout (what a stray local write would add)."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line for line in out.splitlines() if "__pycache__" not in line}


def _files_under(folder) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(root, f), folder)
        for root, _, files in os.walk(folder)
        for f in files
    )


class _Bucket:
    """The test's own view of the bucket (google-cloud-storage, straight to the emulator)."""

    def __init__(self, endpoint):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(
            project="vre-loopback",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
        self.bucket = client.bucket(BUCKET)

    def upload(self, name, data: bytes):
        self.bucket.blob(name).upload_from_string(data)

    def names(self, prefix) -> list[str]:
        return sorted(b.name for b in self.bucket.list_blobs(prefix=prefix))

    def read(self, name) -> bytes:
        return self.bucket.blob(name).download_as_bytes()


def _run(step, args, env, cwd):
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "vre_cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )
    print(f"{step}: {time.monotonic() - started:.0f} s", flush=True)
    assert proc.returncode == 0, (
        f"{step} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-6000:]}"
    )
    return proc.stdout


def _pipeline_config(path, metadata_path):
    from tfx_pipeline.demo import DEMO_CONFIG

    values = yaml.safe_load(DEMO_CONFIG.read_text())
    values.update(root=f"{GS}/work", metadata_path=metadata_path)
    values["data"].update(data_root=f"{GS}/data", extract_argv=[])
    values["serving"]["base"] = f"{GS}/serving"
    # The demo's tiny model with the short schedule of tests/tfx_pipeline/test_pipeline_e2e.py:
    # this test checks where things are written, not what the model learns.
    values["trainer"]["schedule"].update(
        phase1_epochs=2, phase2_epochs=1, phase3_epochs=1, phase4_epochs=0, steps_per_epoch=3
    )
    with open(path, "w") as f:
        yaml.safe_dump(values, f)


def test_extract_pipeline_serve_and_caption_with_every_path_on_gcs(tmp_path, project_root):
    from vre_common.sample_data import sample_videos

    local = {name: tmp_path / name for name in ("loopback", "cwd", "home", "tmp", "mlmd")}
    for folder in local.values():
        folder.mkdir()
    before = _checkout_state(project_root)

    with GcsLoopback(str(local["loopback"]), BUCKET) as gcs:
        env = dict(os.environ)
        env.update(gcs.env(closed_port=_free_port()))
        env.update(
            HOME=str(local["home"]),
            TMPDIR=str(local["tmp"]),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONPATH=str(project_root),
            TF_CPP_MIN_LOG_LEVEL="2",
            # The Evaluator's METEOR keeps its paraphrase index in the usual local cache (a
            # cache of the jar's resource, not data: built once, reused by every run).
            VRE_METEOR_CACHE=os.environ.get("VRE_METEOR_CACHE")
            or os.path.join(os.path.expanduser("~"), ".cache", "vre", "meteor"),
            # The PTB tokenizer's cache of the jar's output likewise (the sample captions are all
            # on its fast path today, so nothing is written).
            VRE_PTB_CACHE=os.environ.get("VRE_PTB_CACHE")
            or os.path.join(os.path.expanduser("~"), ".cache", "vre", "ptb"),
        )
        bucket = _Bucket(gcs.url)

        # Inputs on the bucket: the sample videos and a manifest naming their gs:// paths.
        videos = []
        for video in sample_videos():
            name = f"videos/{os.path.basename(video['path'])}"
            with open(video["path"], "rb") as f:
                bucket.upload(name, f.read())
            videos.append(dict(video, path=f"{GS}/{name}"))
        bucket.upload(
            "inputs/manifest.jsonl", "".join(json.dumps(v) + "\n" for v in videos).encode()
        )

        _run(
            "vre extract",
            [
                "extract",
                "--dataset",
                "manifest",
                "--manifest",
                f"{GS}/inputs/manifest.jsonl",
                "--output_dir",
                f"{GS}/data/span-1",
                "--allow_random_weights",
                "--no_progress",
                "--",
                "--direct_running_mode=in_memory",
                "--direct_num_workers=1",
            ],
            env,
            local["cwd"],
        )
        data = bucket.names("data/span-1/")
        for split in ("train", "validation", "test"):
            assert any(
                n.startswith(f"data/span-1/{split}/") and n.endswith(".tfrecord.gz") for n in data
            ), data
        assert "data/span-1/metadata.json" in data and "data/span-1/dead_letter.jsonl" in data
        metadata = json.loads(bucket.read("data/span-1/metadata.json"))
        assert metadata["videos_ok"] == len(videos), metadata

        config = tmp_path / "pipeline.yaml"
        _pipeline_config(config, str(local["mlmd"] / "metadata.sqlite"))
        out = _run(
            "vre pipeline run",
            ["pipeline", "run", "--config", str(config), "--no_extract"],
            env,
            local["cwd"],
        )
        pushed = re.search(rf"pushed model: {GS}/serving/vre/(\d+)", out)
        assert pushed, out
        version = pushed.group(1)
        serving = bucket.names(f"serving/vre/{version}/")
        assert f"serving/vre/{version}/saved_model.pb" in serving, serving
        assert f"serving/vre/{version}/assets.extra/tf_serving_warmup_requests" in serving
        work = bucket.names("work/")
        # The Trainer's run dir: resume state, checkpoints, TensorBoard logs, summary.
        assert any(n.endswith("/checkpoints/progress.json") for n in work), work
        assert any("/checkpoints/checkpoints/ckpt-" in n for n in work), work
        assert any("/logs/phase1/train/events.out.tfevents" in n for n in work), work
        assert any(n.endswith("/training_summary.json") for n in work), work
        from tfx_pipeline import pipeline as P  # (TFX import: not at collection time)

        for component in (P.EXAMPLE_GEN, P.TRAINER, P.EVALUATOR, P.PUSHER):
            assert any(f"/{component}/" in n for n in work), (component, work)

        grpc_port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vre_cli",
                "serve",
                "--model_name",
                "vre",
                "--model_base_path",
                f"{GS}/serving/vre",
                "--port",
                str(grpc_port),
                "--rest_api_port",
                "0",
                "--file_system_poll_wait_seconds",
                "0",
            ],
            env=env,
            cwd=local["cwd"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = []
            deadline = time.monotonic() + STEP_TIMEOUT_S
            while time.monotonic() < deadline:
                line = server.stderr.readline()
                if not line:
                    break
                lines.append(line)
                if "ready on gRPC" in line:
                    break
            assert any("ready on gRPC" in x for x in lines), "".join(lines[-60:])
            bikes = next(v for v in videos if v["id"] == "bikes")
            out = _run(
                "vre caption",
                [
                    "caption",
                    bikes["path"],
                    "--server",
                    f"127.0.0.1:{grpc_port}",
                    "--allow_random_weights",
                    "--json",
                ],
                env,
                local["cwd"],
            )
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        answer = json.loads(out)["videos"]
        assert [a["video"] for a in answer] == [bikes["path"]]
        assert answer[0]["caption"].strip() and answer[0]["model_version"] == int(version)

        tf_requests, beam_requests = gcs.seen("tf"), gcs.seen("beam")
        refused = gcs.seen("refused")

    # Both clients really used the loopback server, and nothing tried to go anywhere else.
    assert not refused, refused
    assert {r.host for r in tf_requests} == set(GCS_HOSTS), {r.host for r in tf_requests}
    assert len(tf_requests) > 100 and len(beam_requests) > 10
    print(f"GCS requests: TF {len(tf_requests)}, Beam {len(beam_requests)}")

    # Nothing local outside the temp folders: the working directory (where a path mistaken for a
    # local one, e.g. pathlib's 'gs:/vre-e2e/...', would land) is empty, the checkout unchanged.
    assert _files_under(local["cwd"]) == []
    assert _checkout_state(project_root) == before
    assert not os.path.exists("gs:") and not os.path.exists(os.path.join(project_root, "gs:"))
    # HOME (a temp folder here) holds only the libraries' own caches made at import:
    # Keras's config and matplotlib's font cache.
    home = _files_under(local["home"])
    assert all(f.startswith((".keras/", ".cache/matplotlib/")) for f in home), home
