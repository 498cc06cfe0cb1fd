"""`vre serve` as a real process: ready line, answers on both ports, clean exit on SIGTERM,
clear errors for a bad base path."""

import json
import signal
import subprocess
import sys
import time
import urllib.request

import grpc
import portpicker
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.warmup import make_predict_request
from tests.serving.helpers import MODEL_NAME, install_version
from tests.serving.toy_model import toy_inputs


def _vre(*args):
    return [sys.executable, "-m", "vre_cli", *args]


@pytest.mark.slow
@pytest.mark.e2e
def test_vre_serve_process(tmp_path, toy_export, project_root):
    install_version(toy_export, tmp_path, 1)
    grpc_port, rest_port = portpicker.pick_unused_port(), portpicker.pick_unused_port()
    proc = subprocess.Popen(
        _vre("serve", "--model_name", MODEL_NAME, "--model_base_path", str(tmp_path),
             "--port", str(grpc_port), "--rest_api_port", str(rest_port)),
        cwd=project_root, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "ready on gRPC" in line:
                break
        assert any("ready on gRPC 127.0.0.1:%d" % grpc_port in x for x in lines), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/vre", timeout=30) as r:
            assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        )
        response = stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=30)
        assert response.model_spec.version.value == 1
        proc.send_signal(signal.SIGTERM)
        _, rest_of_log = proc.communicate(timeout=60)
        assert proc.returncode == 0
        log = "".join(lines) + rest_of_log
        assert "grpc Predict model=vre OK" in log  # one line per request, with latency
        assert "rest GET /v1/models/vre model=vre OK" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_vre_serve_missing_base_path(tmp_path, project_root):
    done = subprocess.run(
        _vre("serve", "--model_name", "m", "--model_base_path", str(tmp_path / "nope"),
             "--port", "0"),
        cwd=project_root, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "model base path" in done.stderr and "does not exist" in done.stderr
