"""Request size and concurrency limits answer RESOURCE_EXHAUSTED (gRPC) / 429 (REST), and the
server keeps serving afterwards."""

import json
import socket
import threading
import urllib.request

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.server import ModelServer
from serving.warmup import make_predict_request
from tests.serving.helpers import MODEL_NAME, install_version
from tests.serving.toy_model import export_toy_model, toy_inputs

pytestmark = pytest.mark.e2e


def _stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(server.grpc_target)
    )


def _post(url, body: bytes):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_request_size_limit(tmp_path, toy_export):
    install_version(toy_export, tmp_path, 1)
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0, max_request_bytes=50_000) as s:
        big = toy_inputs(1)
        big["temporal"] = np.zeros((400, 4, 8), np.float32)  # 51 kB of tensor content
        with pytest.raises(grpc.RpcError) as info:
            _stub(s).Predict(make_predict_request(MODEL_NAME, big), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        status, answer = _post(s.rest_url + "/v1/models/vre:predict", b" " * 50_001)
        assert status == 429 and "exceeds the limit of 50000 bytes" in answer["error"]
        ok = _stub(s).Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=30)
        assert ok.model_spec.version.value == 1
        body = json.dumps({"inputs": {k: v.tolist() for k, v in toy_inputs(1).items()}}).encode()
        assert _post(s.rest_url + "/v1/models/vre:predict", body)[0] == 200


def test_concurrency_limit(tmp_path):
    export_toy_model(str(tmp_path / "1"), spin=400)  # a slow model: requests overlap
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0, max_concurrent_requests=1,
                     warmup=False) as s:
        # REST: a client that sent its headers but not its body holds the only slot.
        holder = socket.create_connection(("127.0.0.1", s.rest_port))
        holder.sendall(b"POST /v1/models/vre:predict HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 100\r\n\r\n")
        pause = threading.Event()
        status = None
        for _ in range(100):  # the holder's handler thread may take a moment to take the slot
            status, answer = _post(s.rest_url + "/v1/models/vre", b"")
            if status == 429:
                break
            pause.wait(0.05)
        assert status == 429 and "too many concurrent requests (limit 1)" in answer["error"]
        holder.close()

        # gRPC: grpc's own maximum_concurrent_rpcs turns the overflow away.
        stub = _stub(s)
        codes = []
        barrier = threading.Barrier(6)

        def call():
            barrier.wait()
            try:
                stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=60)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as e:
                codes.append(e.code())

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes and grpc.StatusCode.OK in codes
        ok = stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=60)
        assert ok.model_spec.version.value == 1


def test_taken_ports_are_clear_errors(tmp_path, toy_export):
    install_version(toy_export, tmp_path, 1)
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0) as first:
        taken_grpc = ModelServer(MODEL_NAME, str(tmp_path), grpc_port=first.grpc_port)
        with pytest.raises(OSError, match=f"cannot bind the gRPC port 127.0.0.1:{first.grpc_port}"):
            taken_grpc.start()
        taken_rest = ModelServer(MODEL_NAME, str(tmp_path), rest_port=first.rest_port)
        with pytest.raises(OSError, match=f"cannot bind the REST port 127.0.0.1:{first.rest_port}"):
            taken_rest.start()
        # The first server is unharmed.
        ok = _stub(first).Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=30)
        assert ok.model_spec.version.value == 1


def test_ipv6_loopback(tmp_path, toy_export):
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("this host has no IPv6 loopback (an environment limit, not missing work)")
    install_version(toy_export, tmp_path, 1)
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0, host="::1") as v6:
        assert v6.grpc_target.startswith("[::1]:") and v6.rest_url.startswith("http://[::1]:")
        ok = _stub(v6).Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=30)
        assert ok.model_spec.version.value == 1
        with urllib.request.urlopen(v6.rest_url + "/v1/models/vre", timeout=30) as r:
            assert r.status == 200
