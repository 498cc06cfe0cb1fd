"""Server-side batching (`--enable_batching`) and the Prometheus endpoint
(`--monitoring_config_file`), against a real server on loopback."""

import re
import threading
import urllib.request

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.batching import BatchingOptions, batching_options_from_text
from serving.monitoring import DEFAULT_PATH, prometheus_path, read_monitoring_config_file
from serving.server import ModelServer, ServingOptions
from serving.warmup import make_predict_request
from tests.serving.helpers import MODEL_NAME, install_version
from tests.serving.toy_model import expected_key_frames, export_toy_model, toy_inputs
from vre_common.contract import OUT_KEY_FRAME

pytestmark = pytest.mark.e2e


def _metrics(server) -> str:
    with urllib.request.urlopen(server.rest_url + DEFAULT_PATH, timeout=30) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        return r.read().decode()


def _value(text: str, sample: str) -> float:
    m = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    assert m, f"{sample} not in:\n{text[:3000]}"
    return float(m.group(1))


def _concurrent(server, inputs_list):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(server.grpc_target)
    )
    results, errors = [None] * len(inputs_list), []
    barrier = threading.Barrier(len(inputs_list))

    def call(i):
        barrier.wait()
        try:
            results[i] = stub.Predict(make_predict_request(MODEL_NAME, inputs_list[i]), timeout=60)
        except grpc.RpcError as e:
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs_list))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_requests_merge_into_one_call_and_split_back(tmp_path, toy_export):
    install_version(toy_export, tmp_path, 1)
    options = ServingOptions(
        batching=BatchingOptions(
            max_batch_size=8,
            batch_timeout_micros=500_000,
            num_batch_threads=1,
            allowed_batch_sizes=(4, 8),
        ),
        metrics_path=DEFAULT_PATH,
    )
    with ModelServer(
        MODEL_NAME, str(tmp_path), poll_interval_s=0, warmup=False, options=options
    ) as server:
        # Six clients of 1 row and one of 2 rows: 8 rows, one merged call.
        inputs_list = [toy_inputs(1, seed=i) for i in range(6)] + [toy_inputs(2, seed=9)]
        results, errors = _concurrent(server, inputs_list)
        assert errors == []
        for inputs, response in zip(inputs_list, results):
            got = np.array(response.outputs[OUT_KEY_FRAME].int64_val)
            np.testing.assert_array_equal(got, expected_key_frames(inputs))  # its own rows back
        text = _metrics(server)
        calls = _value(text, ':vre:serving:batch_size_count{model_name="vre"}')
        rows = _value(text, ':vre:serving:batch_size_sum{model_name="vre"}')
        assert rows == 8 and calls <= 2, (calls, rows)  # merged (2 if one client came late)
        assert _value(text, ':tensorflow:serving:request_count{model_name="vre",status="OK"}') == 7


def test_batching_limits_answer_as_tf_serving(tmp_path):
    export_toy_model(str(tmp_path / "1"), spin=400)  # a slow call keeps the queue full
    options = ServingOptions(
        batching=BatchingOptions(
            max_batch_size=2, batch_timeout_micros=0, max_enqueued_batches=1, num_batch_threads=1
        )
    )
    with ModelServer(
        MODEL_NAME, str(tmp_path), poll_interval_s=0, rest_port=None, warmup=False, options=options
    ) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.grpc_target)
        )
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(3)), timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Task size 3 is larger than maximum input batch size 2" in info.value.details()
        _, errors = _concurrent(server, [toy_inputs(2, seed=i) for i in range(6)])
        codes = {e.code() for e in errors}
        assert codes == {grpc.StatusCode.UNAVAILABLE}, [e.details() for e in errors]
        assert "queue to which this task was submitted is full" in errors[0].details()


def test_batching_parameters_text_proto():
    options = batching_options_from_text(
        "max_batch_size { value: 32 } batch_timeout_micros { value: 5000 } "
        "max_enqueued_batches { value: 4 } num_batch_threads { value: 2 } "
        "allowed_batch_sizes: 8 allowed_batch_sizes: 32"
    )
    assert options == BatchingOptions(32, 5000, 4, 2, (8, 32))
    with pytest.raises(ValueError, match="final entry in allowed_batch_sizes"):
        batching_options_from_text("max_batch_size { value: 32 } allowed_batch_sizes: 8")
    with pytest.raises(ValueError, match="Invalid protobuf file"):
        batching_options_from_text("max_batch_size: 32")  # a wrapper needs { value: }


def test_prometheus_metrics_under_tf_serving_names(tmp_path, toy_export):
    install_version(toy_export, tmp_path, 1)
    config_file = tmp_path / "monitoring.config"
    config_file.write_text("prometheus_config { enable: true }")
    path = prometheus_path(read_monitoring_config_file(str(config_file)))
    assert path == "/monitoring/prometheus/metrics"
    with ModelServer(
        MODEL_NAME,
        str(tmp_path),
        poll_interval_s=0,
        warmup=False,
        options=ServingOptions(metrics_path=path),
    ) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.grpc_target)
        )
        stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=30)
        with pytest.raises(grpc.RpcError):
            stub.Predict(make_predict_request("nope", toy_inputs(1)), timeout=30)
        urllib.request.urlopen(server.rest_url + "/v1/models/vre", timeout=30).read()
        text = _metrics(server)
    version_dir = str(tmp_path / "1")
    assert _value(text, ':tensorflow:serving:request_count{model_name="vre",status="OK"}') == 2
    assert (
        _value(text, ':tensorflow:serving:request_count{model_name="nope",status="NOT_FOUND"}') == 1
    )
    assert (
        _value(
            text,
            ':tensorflow:serving:request_latency_count{API="predict",entrypoint="GRPC",model_name="vre"}',
        )
        == 1
    )
    assert (
        ':tensorflow:serving:request_latency_bucket{API="GetModelStatus",entrypoint="REST"' in text
    )
    assert (
        _value(
            text,
            f':tensorflow:cc:saved_model:load_attempt_count{{model_path="{version_dir}",status="success"}}',
        )
        == 1
    )
    assert _value(text, ':vre:serving:model_version_available{model_name="vre",version="1"}') == 1
    assert "_total" not in text  # TF Serving's bare counter names
