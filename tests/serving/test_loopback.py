"""Loopback: the official gRPC stubs and plain HTTP get the same captions as the in-process model
(the real tiny VRE captioner, exported in Contract 2)."""

import json
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from serving.servable import read_signature_defs
from serving.warmup import make_predict_request
from tests.serving.helpers import MODEL_NAME, TINY_C, TINY_K, tiny_inputs
from vre_common.contract import OUT_CAPTION, SERVING_DEFAULT, SERVING_OUTPUTS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def in_process(tiny_server):
    """The same SavedModel called in this process, the reference answers."""
    path = f"{tiny_server.manager.base_path}/1"
    fn = tf.saved_model.load(path).signatures[SERVING_DEFAULT]

    def call(inputs):
        outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in outputs.items()}

    return call


def _http(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
        assert r.headers["Content-Type"] == "application/json"
        return json.loads(r.read())


def _assert_same(expected: dict, got: dict):
    assert set(got) == set(expected) == set(SERVING_OUTPUTS)
    for name, want in expected.items():
        value = np.asarray(got[name])
        if want.dtype == object:
            value = value.astype(object)
            want = np.array([w.decode() if isinstance(w, bytes) else w for w in want.ravel()],
                            dtype=object).reshape(want.shape)
            value = np.array([v.decode() if isinstance(v, bytes) else v for v in value.ravel()],
                             dtype=object).reshape(value.shape)
            assert (value == want).all(), name
        else:
            np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-6, err_msg=name)


def test_grpc_predict_matches_in_process(stubs, in_process):
    inputs = tiny_inputs(3, seed=1)
    response = stubs[0].Predict(make_predict_request(MODEL_NAME, inputs), timeout=30)
    assert response.model_spec.name == MODEL_NAME
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == SERVING_DEFAULT
    got = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
    _assert_same(in_process(inputs), got)


def test_grpc_output_filter_and_default_signature(stubs, in_process):
    inputs = tiny_inputs(2, seed=2)
    request = make_predict_request(MODEL_NAME, inputs, signature_name="")
    request.output_filter.append(OUT_CAPTION)
    response = stubs[0].Predict(request, timeout=30)
    assert list(response.outputs) == [OUT_CAPTION]
    assert response.model_spec.signature_name == SERVING_DEFAULT
    want = in_process(inputs)[OUT_CAPTION]
    assert list(tf.make_ndarray(response.outputs[OUT_CAPTION])) == list(want)


def test_rest_row_and_columnar_formats_match_in_process(tiny_server, in_process):
    inputs = tiny_inputs(2, seed=3)
    want = in_process(inputs)
    url = tiny_server.rest_url + "/v1/models/vre/versions/1:predict"
    instances = [{k: v[i].tolist() for k, v in inputs.items()} for i in range(2)]
    rows = _http(url, {"instances": instances})
    assert set(rows) == {"predictions"} and len(rows["predictions"]) == 2
    columns = {name: [row[name] for row in rows["predictions"]] for name in SERVING_OUTPUTS}
    _assert_same(want, columns)
    cols = _http(url, {"signature_name": SERVING_DEFAULT,
                       "inputs": {k: v.tolist() for k, v in inputs.items()}})
    assert set(cols) == {"outputs"}
    _assert_same(want, cols["outputs"])


def test_metadata_is_the_saved_models_signature_defs(stubs, tiny_server):
    saved = read_signature_defs(f"{tiny_server.manager.base_path}/1")
    response = stubs[0].GetModelMetadata(
        get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec={"name": MODEL_NAME}, metadata_field=["signature_def"]
        ),
        timeout=30,
    )
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    assert dict(signature_map.signature_def) == saved
    assert response.model_spec.version.value == 1
    rest = _http(tiny_server.rest_url + "/v1/models/vre/metadata")
    assert rest["model_spec"] == {"name": "vre", "version": "1", "signature_name": ""}
    inputs = rest["metadata"]["signature_def"]["signature_def"][SERVING_DEFAULT]["inputs"]
    assert inputs["temporal"]["dtype"] == "DT_FLOAT"
    dims = [d["size"] for d in inputs["temporal"]["tensor_shape"]["dim"]]
    assert dims == ["-1", str(TINY_K), str(TINY_C)]


def test_model_status_over_grpc_and_rest(stubs, tiny_server):
    response = stubs[1].GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": MODEL_NAME}), timeout=30
    )
    assert [(s.version, s.state) for s in response.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]
    expected = {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]}
    assert _http(tiny_server.rest_url + "/v1/models/vre") == expected
    assert _http(tiny_server.rest_url + "/v1/models/vre/versions/1") == expected


def test_caption_client_matches_in_process(tiny_server, in_process):
    from serving.client import CaptionClient

    inputs = tiny_inputs(2, seed=4)
    want = in_process(inputs)
    features = [{k: v[i] for k, v in inputs.items()} for i in range(2)]
    with CaptionClient(tiny_server.grpc_target, MODEL_NAME) as client:
        answers = client.caption_features(features)
        assert client.model_status() == [(1, "AVAILABLE")]
    assert [a["caption"] for a in answers] == [c.decode() for c in want[OUT_CAPTION]]
    assert [a["key_frame"] for a in answers] == list(want["key_frame"])
    assert all(a["model_version"] == 1 for a in answers)


def test_caption_client_names_the_server_on_errors(tiny_server):
    from serving.client import CaptionClient, CaptionServerError

    with CaptionClient(tiny_server.grpc_target, "other") as client:
        with pytest.raises(CaptionServerError, match="Could not find any versions of model other"):
            client.model_status()
        with pytest.raises(CaptionServerError, match=tiny_server.grpc_target) as info:
            client.caption_features([{k: v[0] for k, v in tiny_inputs(1).items()}])
        assert info.value.code.name == "NOT_FOUND"
    with CaptionClient(tiny_server.grpc_target, MODEL_NAME) as client:
        with pytest.raises(ValueError, match="have no 'audio'"):
            client.caption_features([{"temporal": 0, "spatial": 0}])
