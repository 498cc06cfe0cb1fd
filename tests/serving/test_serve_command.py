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
        _vre(
            "serve",
            "--model_name",
            MODEL_NAME,
            "--model_base_path",
            str(tmp_path),
            "--port",
            str(grpc_port),
            "--rest_api_port",
            str(rest_port),
        ),
        cwd=project_root,
        stderr=subprocess.PIPE,
        text=True,
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
        _vre(
            "serve", "--model_name", "m", "--model_base_path", str(tmp_path / "nope"), "--port", "0"
        ),
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "model base path" in done.stderr and "does not exist" in done.stderr


# -- TF Serving's flags and startup (issue 13 items 5, 6, 7) ------------------------------------


def _parse(*argv):
    from vre_cli.main import build_parser

    return build_parser().parse_args(["serve", *argv])


def test_tf_serving_flags_parse_with_its_defaults():
    args = _parse("--model_base_path=/m")
    assert args.model_name == "default" and args.port == 8500 and args.rest_api_port == 0
    assert args.rest_api_timeout_in_ms == 30000 and args.enable_batching is False
    assert args.max_num_load_retries == 5 and args.load_retry_interval_micros == 60_000_000
    assert args.file_system_poll_wait_seconds == 1 and args.enable_model_warmup is True
    assert args.model_config_file_poll_wait_seconds == 0 and args.saved_model_tags == "serve"
    assert args.enable_serialization_as_tensor_content is False
    assert args.enable_grpc_healthcheck_service is False
    # The common flags that used to exit 2, in TF Serving's forms (bare booleans included).
    args = _parse(
        "--model_base_path=/m",
        "--enable_batching",
        "--rest_api_timeout_in_ms=5000",
        "--tensorflow_intra_op_parallelism=2",
        "--enable_model_warmup",
        "--enable_serialization_as_tensor_content=true",
        "--flush_filesystem_caches=false",
        "--num_load_threads=4",
        "--enable_grpc_healthcheck_service",
    )
    assert args.enable_batching is True and args.rest_api_timeout_in_ms == 5000
    assert args.tensorflow_intra_op_parallelism == 2 and args.enable_model_warmup is True
    assert args.enable_serialization_as_tensor_content is True
    assert args.flush_filesystem_caches == "false" and args.num_load_threads == "4"


def test_unknown_flag_is_named(project_root):
    done = subprocess.run(
        _vre("serve", "--model_base_path=/m", "--enable_batchin"),
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--enable_batchin" in done.stderr and "unrecognized" in done.stderr


def test_bind_address_default_by_environment():
    from vre_cli.commands.serve import default_host

    assert default_host({}) == "127.0.0.1"  # the documented local default
    assert default_host({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) == "0.0.0.0"  # TF Serving's


@pytest.mark.slow
@pytest.mark.e2e
def test_startup_fails_when_no_version_loads(tmp_path, project_root):
    from tests.serving.toy_model import export_broken_model

    export_broken_model(str(tmp_path / "1"))
    started = time.monotonic()
    done = subprocess.run(
        _vre(
            "serve",
            "--model_name=vre",
            f"--model_base_path={tmp_path}",
            "--port=0",
            "--max_num_load_retries=2",
            "--load_retry_interval_micros=200000",
        ),
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Failed to start server" in done.stderr and "version 1" in done.stderr
    assert "retry 1 of 2" in done.stderr and "retry 2 of 2" in done.stderr
    assert time.monotonic() - started >= 0.4  # the two retry intervals were waited


@pytest.mark.e2e
def test_health_and_status_never_available_without_a_version(tmp_path, toy_export):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    from serving.server import ModelServer, ServingOptions
    from tests.serving.toy_model import export_broken_model

    export_broken_model(str(tmp_path / "1"))
    options = ServingOptions(start_without_loaded_model=True, health_service=True)
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0, options=options) as server:
        channel = grpc.insecure_channel(server.grpc_target)
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest
        assert (
            health.Check(check(service=""), timeout=30).status
            == health_pb2.HealthCheckResponse.NOT_SERVING
        )
        assert (
            health.Check(check(service=MODEL_NAME), timeout=30).status
            == health_pb2.HealthCheckResponse.NOT_SERVING
        )
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": MODEL_NAME}), timeout=30
        )
        states = [s.state for s in status.model_version_status]
        assert get_model_status_pb2.ModelVersionStatus.AVAILABLE not in states
        install_version(toy_export, tmp_path, 2)
        server.manager.poll_once()
        assert (
            health.Check(check(service=""), timeout=30).status
            == health_pb2.HealthCheckResponse.SERVING
        )
        channel.close()


@pytest.mark.e2e
def test_remote_base_path_through_gfile(toy_export):
    """A base path on a non-local filesystem (TF's ram://, standing in for gs://) is served."""
    import tensorflow as tf

    from serving.server import ModelServer
    from vre_common import storage

    storage.copy_tree(toy_export, "ram://serving-test/vre/3")
    with ModelServer(MODEL_NAME, "ram://serving-test/vre", poll_interval_s=0) as server:
        assert server.manager.base_path == "ram://serving-test/vre"
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.grpc_target)
        )
        response = stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=30)
        assert response.model_spec.version.value == 3
    tf.io.gfile.rmtree("ram://serving-test")
