"""Where clients see TF Serving's behaviour: typed output fields, REST body and JSON details,
deadlines. Each against a real server on loopback through the official stubs or plain HTTP."""

import base64
import http.client
import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.server import ModelServer, ServingOptions
from serving.warmup import make_predict_request
from tests.serving.helpers import MODEL_NAME, install_version
from tests.serving.toy_model import expected_key_frames, export_toy_model, toy_inputs
from vre_common.contract import OUT_CAPTION, OUT_KEY_FRAME, OUT_KEY_FRAME_PROBS, OUT_TOKENS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def toy_server(tmp_path_factory, toy_export):
    base = tmp_path_factory.mktemp("parity")
    install_version(toy_export, base, 1)
    with ModelServer(MODEL_NAME, str(base), poll_interval_s=0) as server:
        yield server


def _stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(server.grpc_target)
    )


def test_outputs_in_typed_fields_by_default(toy_server):
    inputs = toy_inputs(2, seed=3)
    response = _stub(toy_server).Predict(make_predict_request(MODEL_NAME, inputs), timeout=30)
    key = response.outputs[OUT_KEY_FRAME]
    assert key.tensor_content == b""
    assert list(key.int64_val) == list(expected_key_frames(inputs))  # what a TF client reads
    probs = response.outputs[OUT_KEY_FRAME_PROBS]
    assert probs.tensor_content == b"" and len(probs.float_val) == 2 * 4
    assert len(response.outputs[OUT_TOKENS].int64_val) == 2 * 3
    assert response.outputs[OUT_CAPTION].string_val[0].startswith(b"key frame ")


def test_tensor_content_when_enabled(tmp_path, toy_export):
    install_version(toy_export, tmp_path, 1)
    options = ServingOptions(tensor_content=True)
    with ModelServer(
        MODEL_NAME, str(tmp_path), poll_interval_s=0, rest_port=None, options=options
    ) as server:
        inputs = toy_inputs(2, seed=3)
        response = _stub(server).Predict(make_predict_request(MODEL_NAME, inputs), timeout=30)
    key = response.outputs[OUT_KEY_FRAME]
    assert not key.int64_val and len(key.tensor_content) == 2 * 8
    np.testing.assert_array_equal(tf.make_ndarray(key), expected_key_frames(inputs))


def _raw_post(server, path, body: bytes, headers: dict):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    conn.putrequest("POST", path)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body)
    r = conn.getresponse()
    answer = r.status, json.loads(r.read())
    conn.close()
    return answer


def test_rest_chunked_body_is_read(toy_server):
    inputs = toy_inputs(1, seed=4)
    doc = json.dumps({"inputs": {k: v.tolist() for k, v in inputs.items()}}).encode()
    chunks = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(doc[i : i + 700]), doc[i : i + 700])
            for i in range(0, len(doc), 700)
        )
        + b"0\r\n\r\n"
    )
    status, answer = _raw_post(
        toy_server, "/v1/models/vre:predict", chunks, {"Transfer-Encoding": "chunked"}
    )
    assert status == 200, answer
    assert answer["outputs"][OUT_KEY_FRAME] == expected_key_frames(inputs).tolist()


def _string_server(tmp_path, dtype=tf.string, name="x"):
    """A model echoing one input of the given dtype (for the JSON conversion rules)."""

    class Echo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], dtype, name=name)])
        def serve(self, x):
            return {"y": tf.identity(x)}

    module = Echo()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.serve})
    return ModelServer("echo", str(tmp_path), poll_interval_s=0)


def _post_json(server, model, doc):
    body = json.dumps(doc).encode()
    return _raw_post(
        server,
        f"/v1/models/{model}:predict",
        body,
        {"Content-Type": "application/json", "Content-Length": str(len(body))},
    )


def test_rest_unpadded_b64_is_accepted(tmp_path):
    with _string_server(tmp_path) as server:
        unpadded = base64.b64encode(b"\x00\x01").decode().rstrip("=")
        status, answer = _post_json(server, "echo", {"instances": [{"b64": unpadded}]})
    assert status == 200, answer
    assert answer["predictions"] == ["\x00\x01"]


@pytest.mark.parametrize(
    "dtype, value, status, fragment",
    [
        (tf.int32, 2**31, 400, "is not of expected type: int32"),
        (tf.int64, 2**63, 400, "is not of expected type: int64"),
        (tf.int8, 300, 400, "is not of expected type: int8"),
        (tf.float32, 2**24 + 1, 400, "to float without loss of precision"),
        (tf.float16, 1.5, 501, "to type: half"),
        (tf.int32, 2**31 - 1, 200, ""),
    ],
    ids=["int32", "int64", "int8", "float32-lossy", "half", "int32-max-ok"],
)
def test_rest_json_numbers_as_tf_serving_converts_them(tmp_path, dtype, value, status, fragment):
    with _string_server(tmp_path, dtype) as server:
        got, answer = _post_json(server, "echo", {"instances": [value]})
    assert got == status, answer
    if fragment:
        assert fragment in answer["error"]
    else:
        assert answer["predictions"] == [value]


def test_deadline_reaches_the_model_call(tmp_path):
    install_version_dir = tmp_path / "1"
    export_toy_model(str(install_version_dir), spin=3000)  # a call of ~1 s or more
    options = ServingOptions(rest_timeout_ms=150)
    with ModelServer(
        MODEL_NAME, str(tmp_path), poll_interval_s=0, warmup=False, options=options
    ) as server:
        stub = _stub(server)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=0.2)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        inputs = toy_inputs(1)
        status, answer = _post_json(
            server, MODEL_NAME, {"inputs": {k: v.tolist() for k, v in inputs.items()}}
        )
        assert status == 504 and "Deadline" in answer["error"]
        # Without a deadline the same call completes.
        response = stub.Predict(make_predict_request(MODEL_NAME, inputs), timeout=120)
        assert list(response.outputs[OUT_KEY_FRAME].int64_val) == list(expected_key_frames(inputs))
