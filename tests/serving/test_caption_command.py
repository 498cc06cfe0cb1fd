"""`vre caption` end to end: real sample videos decoded and featurised with the Beam job's code,
captioned by a served Contract-2-sized VRE model through the official gRPC stubs."""

import json
import subprocess
import sys

import pytest

from serving.server import ModelServer
from tests.serving.contract_model import build_contract_sized_model
from tests.serving.helpers import MODEL_NAME
from vre_common.contract import NUM_FRAMES
from vre_common.sample_data import sample_videos
from vre_keras.tiny_model import TINY_CAPTIONS


def _vre(*args):
    return [sys.executable, "-m", "vre_cli", "caption", *args]


@pytest.mark.slow
@pytest.mark.e2e
def test_vre_caption_sample_videos(tmp_path, project_root):
    build_contract_sized_model(str(tmp_path / "1"))
    videos = {v["id"]: v["path"] for v in sample_videos()}
    chosen = [videos[k] for k in sorted(videos) if "carphone" in k or "bikes" in k][:2]
    assert len(chosen) == 2, videos
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0, rest_port=None) as server:
        done = subprocess.run(
            _vre(*chosen, "--server", server.grpc_target, "--allow_random_weights", "--json"),
            cwd=project_root, capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout)
        words = {w for c in TINY_CAPTIONS for w in c.split()}
        assert [r["video"] for r in report["videos"]] == chosen
        for r in report["videos"]:
            assert set(r["caption"].split()) <= words, r
            assert 0 <= r["key_frame"] < NUM_FRAMES and 0.0 <= r["key_frame_prob"] <= 1.0
            assert r["key_frame_time_s"] >= 0 and r["model_version"] == 1
            assert set(r["timing_ms"]) == {"decode", "features", "predict"}

        missing = subprocess.run(
            _vre(str(tmp_path / "nope.mp4"), "--server", server.grpc_target),
            cwd=project_root, capture_output=True, text=True, timeout=120,
        )
        assert missing.returncode == 2 and "no such video file" in missing.stderr
        wrong_model = subprocess.run(
            _vre(chosen[0], "--server", server.grpc_target, "--model_name", "other",
                 "--allow_random_weights"),
            cwd=project_root, capture_output=True, text=True, timeout=300,
        )
        assert wrong_model.returncode == 1
        assert "Could not find any versions of model other" in wrong_model.stderr
