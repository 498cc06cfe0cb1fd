"""`--model_config_file`: TF Serving's text-format ModelServerConfig with several models, the
three version policies, version labels (REST /labels/<l>, gRPC version_label), polling of the
file and HandleReloadConfigRequest, against a real server on loopback."""

import json
import time
import urllib.error
import urllib.request

import grpc
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from serving.model_config import ModelConfigError, read_model_config_file, read_model_config_text
from serving.server import ModelServer, ServingOptions
from serving.warmup import make_predict_request
from tests.serving.helpers import install_version
from tests.serving.toy_model import toy_inputs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def _config(
    a_base,
    b_base,
    a_policy="all {}",
    b_policy="latest { num_versions: 2 }",
    labels='version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 3 }',
    with_b=True,
):
    b = (
        (
            f'config {{ name: "b" base_path: "{b_base}" model_platform: "tensorflow" '
            f"model_version_policy {{ {b_policy} }} }}"
        )
        if with_b
        else ""
    )
    return (
        f'model_config_list {{ config {{ name: "a" base_path: "{a_base}" '
        f'model_platform: "tensorflow" model_version_policy {{ {a_policy} }} {labels} }} '
        f"{b} }}"
    )


def _available(models, name):
    request = get_model_status_pb2.GetModelStatusRequest(model_spec={"name": name})
    response = models.GetModelStatus(request, timeout=30)
    return sorted(s.version for s in response.model_version_status if s.state == AVAILABLE)


def _predict_version(predict, name, version_label=""):
    request = make_predict_request(name, toy_inputs(1))
    if version_label:
        request.model_spec.version_label = version_label
    return predict.Predict(request, timeout=30).model_spec.version.value


def test_config_file_models_policies_labels_reload_and_polling(tmp_path, toy_export):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for v in (1, 2, 3):
        install_version(toy_export, a, v)
        install_version(toy_export, b, v)
    path = tmp_path / "models.config"
    path.write_text(_config(a, b))
    # No polling here: a polled file would re-apply itself over HandleReloadConfigRequest (as in
    # TF Serving); polling is tested below on its own server.
    options = ServingOptions(model_config=read_model_config_file(str(path)))
    with ModelServer(poll_interval_s=0, options=options) as server:
        channel = grpc.insecure_channel(server.grpc_target)
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        assert _available(models, "a") == [1, 2, 3]  # all
        assert _available(models, "b") == [2, 3]  # latest 2
        assert _predict_version(predict, "a") == 3  # no version: the latest available
        assert _predict_version(predict, "a", "stable") == 1
        assert _predict_version(predict, "a", "canary") == 3
        with pytest.raises(grpc.RpcError) as info:
            _predict_version(predict, "a", "nope")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Unrecognized servable version label: nope" in info.value.details()
        # REST: /labels/<label>
        body = json.dumps({"inputs": {k: v.tolist() for k, v in toy_inputs(1).items()}})
        url = f"{server.rest_url}/v1/models/a/labels/stable:predict"
        with urllib.request.urlopen(urllib.request.Request(url, body.encode()), timeout=30) as r:
            assert r.status == 200
        with urllib.request.urlopen(
            f"{server.rest_url}/v1/models/a/labels/canary", timeout=30
        ) as r:
            assert [s["version"] for s in json.loads(r.read())["model_version_status"]] == ["3"]

        # HandleReloadConfigRequest: "b" goes, "a" keeps version 2 only (specific).
        reload = model_management_pb2.ReloadConfigRequest(
            config=read_model_config_text(
                _config(a, b, "specific { versions: 2 }", labels="", with_b=False)
            )
        )
        models.HandleReloadConfigRequest(reload, timeout=120)
        assert _available(models, "a") == [2]
        with pytest.raises(grpc.RpcError) as info:
            _predict_version(predict, "b")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        # A label on a version that is not available is refused (FAILED_PRECONDITION).
        bad = model_management_pb2.ReloadConfigRequest(
            config=read_model_config_text(
                _config(
                    a,
                    b,
                    "specific { versions: 2 }",
                    labels='version_labels { key: "x" value: 1 }',
                    with_b=False,
                )
            )
        )
        with pytest.raises(grpc.RpcError) as info:
            models.HandleReloadConfigRequest(bad, timeout=120)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        channel.close()

    # Polling: an edit of the file is applied while serving.
    path.write_text(_config(a, b, with_b=False))
    options = ServingOptions(
        model_config=read_model_config_file(str(path)),
        model_config_file=str(path),
        config_poll_wait_s=0.3,
    )
    with ModelServer(poll_interval_s=0, rest_port=None, options=options) as server:
        channel = grpc.insecure_channel(server.grpc_target)
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            _available(models, "b")
        path.write_text(_config(a, b, b_policy="specific { versions: 1 }"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if _available(models, "b") == [1] and _available(models, "a") == [1, 2, 3]:
                    break
            except grpc.RpcError:
                pass
            time.sleep(0.3)
        assert _available(models, "b") == [1] and _available(models, "a") == [1, 2, 3]
        channel.close()


def test_config_file_errors_name_the_problem(tmp_path):
    with pytest.raises(ModelConfigError, match="Invalid protobuf file"):
        read_model_config_text("model_config_list { config { nme: 'a' } }", "x.config")
    with pytest.raises(ModelConfigError, match="Illegal to list model a 2 times"):
        read_model_config_text(
            "model_config_list { config { name: 'a' base_path: '/x' } "
            "config { name: 'a' base_path: '/y' } }"
        )
    with pytest.raises(ModelConfigError, match="model_platform"):
        read_model_config_text(
            "model_config_list { config { name: 'a' base_path: '/x' model_platform: 'tflite' } }"
        )
    with pytest.raises(ModelConfigError, match="cannot read model config file"):
        read_model_config_file(str(tmp_path / "missing.config"))
