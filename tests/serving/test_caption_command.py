"""`vre caption` end to end: a real sample video decoded and featurised with the Beam job's code
(ResNet152 + VGGish, fixed-seed random weights), captioned through the official gRPC stubs by a
served model at Contract 2's full input sizes.

The served model is the toy captioner (its caption names its key frame, so the report's fields can
be checked against each other): exporting the real VRE model at 2048 channels costs ~30 s here,
and the real model's answers through the same client are checked in test_loopback.py.
"""

import json

import pytest

from serving.server import ModelServer
from tests.serving.helpers import MODEL_NAME
from tests.serving.toy_model import export_toy_model
from vre_common.contract import FEATURE_CHANNELS, NUM_FRAMES, NUM_REGIONS
from vre_cli.main import main
from vre_common.sample_data import sample_videos


def _caption_in_process(capsys, *args):
    # The real entry point, in this process: TensorFlow is imported already, which saves the
    # ~10 s a subprocess would spend importing it again.
    code = main(["caption", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
@pytest.mark.e2e
def test_vre_caption_sample_videos(tmp_path, capsys):
    export_toy_model(
        str(tmp_path / "1"), frames=NUM_FRAMES, channels=FEATURE_CHANNELS, regions=NUM_REGIONS
    )
    videos = {v["id"]: v["path"] for v in sample_videos()}
    chosen = [videos["carphone_pristine"]]
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0, rest_port=None) as server:
        code, out, err = _caption_in_process(
            capsys, *chosen, "--server", server.grpc_target, "--allow_random_weights", "--json"
        )
        assert code == 0, err[-3000:]
        report = json.loads(out)
        assert [r["video"] for r in report["videos"]] == chosen
        for r in report["videos"]:
            assert r["caption"] == f"key frame {r['key_frame']}", r
            assert 0 <= r["key_frame"] < NUM_FRAMES and 0.0 <= r["key_frame_prob"] <= 1.0
            assert r["key_frame_time_s"] >= 0 and r["model_version"] == 1
            assert set(r["timing_ms"]) == {"decode", "features", "predict"}

        code, _, err = _caption_in_process(capsys, str(tmp_path / "nope.mp4"), "--server", "h:1")
        assert code == 2 and "no such video file" in err
        code, _, err = _caption_in_process(capsys, chosen[0], "--server", "nohost")
        assert code == 2 and "is not HOST:PORT" in err
