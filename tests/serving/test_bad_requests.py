"""The bad-request table: every row gets TF Serving's status code and a message naming the
problem, over gRPC (official stubs) and REST (plain HTTP), and the server still answers after."""

import json
import urllib.request

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    regression_pb2,
)

from serving.warmup import make_predict_request
from tests.serving.helpers import MODEL_NAME, TINY_C as C, TINY_K as K, TINY_REGIONS as REGIONS
from tests.serving.helpers import tiny_inputs
from vre_common.contract import AUDIO_DIM

OK_INPUTS = tiny_inputs(1)


def _predict(**changes):
    inputs = dict(OK_INPUTS)
    inputs.update({k: v for k, v in changes.items() if v is not None})
    for k in [k for k, v in changes.items() if v is None]:
        del inputs[k]
    return inputs


def _req(inputs=None, name=MODEL_NAME, version=None, signature="serving_default", **fields):
    inputs = OK_INPUTS if inputs is None else inputs
    request = make_predict_request(name, inputs, signature, version)
    for key, value in fields.items():
        getattr(request, key).extend(value)
    return request


def _truncated_tensor_request():
    request = _req()
    request.inputs["temporal"].tensor_content = request.inputs["temporal"].tensor_content[:-4]
    return request


def _labelled_request():
    request = _req()
    request.model_spec.version_label = "stable"
    return request


GRPC_PREDICT_ROWS = [
    ("unknown model", _req(name="nope"), grpc.StatusCode.NOT_FOUND, "Latest(nope)"),
    ("unknown version", _req(version=7), grpc.StatusCode.NOT_FOUND, "Specific(vre, 7)"),
    ("unknown label", _labelled_request(), grpc.StatusCode.INVALID_ARGUMENT, "stable"),
    ("unknown signature", _req(signature="nope"), grpc.StatusCode.FAILED_PRECONDITION, '"nope"'),
    (
        "missing input",
        _req(_predict(audio=None)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing but required: {audio}",
    ),
    (
        "extra input",
        _req(_predict(extra=np.zeros((1, 2), np.float32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Sent extra: {extra}",
    ),
    (
        "renamed input",
        _req({**_predict(audio=None), "audi0": OK_INPUTS["audio"]}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "alias not found in signature: audi0",
    ),
    (
        "wrong dtype",
        _req(_predict(temporal=np.zeros((1, K, C), np.int32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'temporal' to be float32 but int32",
    ),
    (
        "string for float",
        _req(_predict(audio=np.array([[b"x"] * AUDIO_DIM], dtype=object))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'audio' to be float32 but string",
    ),
    (
        "wrong shape",
        _req(_predict(temporal=np.zeros((1, K + 1, C), np.float32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        f"'temporal' has shape [1,{K + 1},{C}]",
    ),
    (
        "wrong rank",
        _req(_predict(spatial=np.zeros((REGIONS, C), np.float32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'spatial' has shape",
    ),
    (
        "unequal batches",
        _req(
            _predict(
                audio=np.zeros((3, AUDIO_DIM), np.float32),
                spatial=np.zeros((2, REGIONS, C), np.float32),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "",
    ),
    ("broken tensor", _truncated_tensor_request(), grpc.StatusCode.INVALID_ARGUMENT, "'temporal'"),
    (
        "unknown output",
        _req(output_filter=["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: nope",
    ),
    (
        "repeated output",
        _req(output_filter=["caption", "caption"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "duplicate output tensor alias: caption",
    ),
]


def _assert_still_serving(stubs):
    response = stubs[0].Predict(_req(), timeout=30)
    assert response.model_spec.version.value == 1


@pytest.mark.e2e
@pytest.mark.parametrize(
    "request_, code, fragment",
    [r[1:] for r in GRPC_PREDICT_ROWS],
    ids=[r[0] for r in GRPC_PREDICT_ROWS],
)
def test_grpc_predict_bad_request(stubs, request_, code, fragment):
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(request_, timeout=30)
    assert info.value.code() == code, info.value.details()
    assert fragment in info.value.details()
    _assert_still_serving(stubs)


def _metadata_request(fields, name=MODEL_NAME):
    return get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": name}, metadata_field=fields
    )


def _status_request(name=MODEL_NAME, version=None):
    request = get_model_status_pb2.GetModelStatusRequest(model_spec={"name": name})
    if version is not None:
        request.model_spec.version.value = version
    return request


@pytest.mark.e2e
def test_grpc_metadata_status_and_unimplemented_errors(stubs):
    prediction, model = stubs
    rows = [
        (
            prediction.GetModelMetadata,
            _metadata_request([]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "at least one metadata_field",
        ),
        (
            prediction.GetModelMetadata,
            _metadata_request(["graph"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Metadata field graph is not supported",
        ),
        (
            prediction.GetModelMetadata,
            _metadata_request(["signature_def"], "nope"),
            grpc.StatusCode.NOT_FOUND,
            "Latest(nope)",
        ),
        (
            prediction.GetModelMetadata,
            get_model_metadata_pb2.GetModelMetadataRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Missing ModelSpec",
        ),
        (
            model.GetModelStatus,
            _status_request("nope"),
            grpc.StatusCode.NOT_FOUND,
            "Could not find any versions of model nope",
        ),
        (
            model.GetModelStatus,
            _status_request(version=9),
            grpc.StatusCode.NOT_FOUND,
            "Could not find version 9 of model vre",
        ),
        (
            prediction.Classify,
            classification_pb2.ClassificationRequest(model_spec={"name": "vre"}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Expected classification signature method_name to be tensorflow/serving/classify",
        ),
        (
            prediction.Regress,
            regression_pb2.RegressionRequest(model_spec={"name": "vre"}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Expected regression signature method_name to be tensorflow/serving/regress",
        ),
        (
            prediction.Predict,
            predict_pb2.PredictRequest(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ModelSpec has no name specified.",
        ),
    ]
    for method, request, code, fragment in rows:
        with pytest.raises(grpc.RpcError) as info:
            method(request, timeout=30)
        assert info.value.code() == code, (request, info.value.details())
        assert fragment in info.value.details()
    _assert_still_serving(stubs)


def test_grpc_garbage_message_does_not_hurt_the_server(tiny_server, stubs):
    with grpc.insecure_channel(tiny_server.grpc_target) as channel:
        raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
        with pytest.raises(grpc.RpcError) as info:
            raw(b"\xff\xff\xff\xff not a protobuf", timeout=30)
        assert info.value.code() == grpc.StatusCode.INTERNAL  # grpc's own deserializing error
    _assert_still_serving(stubs)


def _post(url, body, headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _instance(**changes):
    item = {k: v[0].tolist() for k, v in OK_INPUTS.items()}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


PREDICT = "/v1/models/vre:predict"
REST_ROWS = [
    ("unknown model", "/v1/models/nope:predict", {"instances": [_instance()]}, 404, "Latest(nope)"),
    (
        "unknown version",
        "/v1/models/vre/versions/7:predict",
        {"instances": [_instance()]},
        404,
        "Specific(vre, 7)",
    ),
    (
        "unknown signature",
        PREDICT,
        {"signature_name": "nope", "instances": [_instance()]},
        400,
        '"nope" not found',
    ),
    (
        "missing input",
        PREDICT,
        {"instances": [_instance(audio=None)]},
        400,
        "keys must be equal to: audio,spatial,temporal",
    ),
    (
        "extra input",
        PREDICT,
        {"instances": [_instance(extra=[1.0])]},
        400,
        "does not have named input: extra",
    ),
    (
        "missing columnar input",
        PREDICT,
        {"inputs": {"temporal": OK_INPUTS["temporal"].tolist()}},
        400,
        "Missing named input: audio",
    ),
    (
        "strings for floats",
        PREDICT,
        {"instances": [_instance(audio=["a"] * AUDIO_DIM)]},
        400,
        "is not of expected type: float",
    ),
    (
        "wrong shape",
        PREDICT,
        {"instances": [_instance(temporal=[[0.0] * C] * (K + 1))]},
        400,
        f"'temporal' has shape [1,{K + 1},{C}]",
    ),
    (
        "ragged list",
        PREDICT,
        {"instances": [_instance(temporal=[[0.0] * C, [0.0]])]},
        400,
        "unequal sizes",
    ),
    (
        "unequal instances",
        PREDICT,
        {"instances": [_instance(), _instance(temporal=[[0.0] * C] * (K - 1))]},
        400,
        "Expecting shape",
    ),
    ("plain list", PREDICT, {"instances": [[1.0, 2.0]]}, 400, "expecting list of objects"),
    (
        "no inputs",
        PREDICT,
        {"signature_name": "serving_default"},
        400,
        "Missing 'inputs' or 'instances' key",
    ),
    (
        "both formats",
        PREDICT,
        {"instances": [_instance()], "inputs": {}},
        400,
        "expecting only one of 'inputs' or 'instances'",
    ),
    ("empty instances", PREDICT, {"instances": []}, 400, "No values in 'instances'"),
    ("instances not a list", PREDICT, {"instances": {"a": 1}}, 400, "to be an list/array"),
    ("not JSON", PREDICT, b"{not json", 400, "JSON Parse error"),
    ("empty body", PREDICT, b"", 400, "The document is empty"),
    ("not UTF-8", PREDICT, b"\xff\xfe{}", 400, "JSON Parse error"),
    ("JSON not an object", PREDICT, b"[1, 2]", 400, "Is not object"),
    (
        "signature not a string",
        PREDICT,
        {"signature_name": 3, "instances": [1]},
        400,
        "'signature_name' key must be a string value",
    ),
    (
        "classify",
        "/v1/models/vre:classify",
        {"examples": []},
        400,
        "Expected classification signature method_name",
    ),
    (
        "regress",
        "/v1/models/vre:regress",
        {"examples": []},
        400,
        "Expected regression signature method_name",
    ),
    (
        "malformed path",
        "/v1/models/vre/versions/x:predict",
        {"instances": [1]},
        400,
        "Malformed request",
    ),
    ("not the API", "/predict", {"instances": [1]}, 404, "/v1/models"),
]


@pytest.mark.e2e
def test_rest_bad_requests(tiny_server, stubs):
    for label, path, body, status, fragment in REST_ROWS:
        got_status, answer = _post(tiny_server.rest_url + path, body)
        assert got_status == status, (label, answer)
        assert set(answer) == {"error"} and fragment in answer["error"], (label, answer)
    for path, status, fragment in [
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("/v1/models/vre/versions/9", 404, "Could not find version 9 of model vre"),
        ("/v1/models/nope/metadata", 404, "Latest(nope)"),
        ("/v1/models", 400, "Missing model name"),
    ]:
        got_status, answer = _get(tiny_server.rest_url + path)
        assert (got_status, fragment in answer["error"]) == (status, True), (path, answer)
    status, answer = _post(tiny_server.rest_url + PREDICT, {"instances": [_instance()]})
    assert status == 200 and isinstance(answer["predictions"][0]["caption"], str)
    _assert_still_serving(stubs)
