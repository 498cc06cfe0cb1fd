"""Version watching: swap under load, in-flight requests finish on their version, a broken or
failing-warmup version leaves the old one serving, warmup records are replayed on load."""

import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2, prediction_service_pb2_grpc

from serving.model_manager import AVAILABLE, END, UNLOADING, ModelManager
from serving.server import ModelServer
from serving.warmup import make_predict_request, read_warmup_requests, write_warmup_requests
from tests.serving.helpers import MODEL_NAME, install_version
from tests.serving.toy_model import export_broken_model, expected_key_frames, toy_inputs
from vre_common.contract import OUT_KEY_FRAME, TEMPORAL, WARMUP_FILE

OFFSET_OF_VERSION = {1: 0, 2: 1}


def _states(manager):
    return {s.version: s.state for s in manager.statuses()}


@pytest.mark.slow
@pytest.mark.e2e
def test_swap_under_8_client_threads_loses_no_request(tmp_path, toy_export, toy_export_offset):
    install_version(toy_export, tmp_path, 1)
    answers, failures = [], []
    stop = threading.Event()
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0.1) as server:
        channel = grpc.insecure_channel(server.grpc_target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def client(seed):
            i = 0
            while not stop.is_set():
                inputs = toy_inputs(1, seed=seed * 1000 + i)
                i += 1
                started = time.monotonic()
                try:
                    r = stub.Predict(make_predict_request(MODEL_NAME, inputs), timeout=30)
                except grpc.RpcError as e:
                    failures.append((e.code(), e.details()))
                    continue
                version = r.model_spec.version.value
                key = tf.make_ndarray(r.outputs[OUT_KEY_FRAME])
                want = expected_key_frames(inputs, OFFSET_OF_VERSION[version])
                answers.append((version, bool((key == want).all()), started, time.monotonic()))

        threads = [threading.Thread(target=client, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        install_version(toy_export_offset, tmp_path, 2)
        deadline = time.monotonic() + 60
        while server.manager.serving_version != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # keep sending on the new version
        stop.set()
        for t in threads:
            t.join()
        channel.close()
        assert _states(server.manager) == {2: AVAILABLE, 1: END}
    assert failures == []
    versions = [a[0] for a in answers]
    assert 1 in versions and 2 in versions
    assert all(a[1] for a in answers), "an answer came from a different version than it named"
    # Requests in flight may finish on version 1 after version 2 answered, but none sent after
    # the first answer of version 2 may go to version 1: no flapping back.
    first_v2_answer = min(a[3] for a in answers if a[0] == 2)
    assert all(a[0] == 2 for a in answers if a[2] > first_v2_answer)


def test_in_flight_request_finishes_on_its_version(tmp_path, toy_export, toy_export_offset):
    install_version(toy_export, tmp_path, 1)
    manager = ModelManager(MODEL_NAME, str(tmp_path), poll_interval_s=0)
    manager.start()
    inputs = toy_inputs(1, seed=5)
    with manager.handle() as held:
        install_version(toy_export_offset, tmp_path, 2)
        poller = threading.Thread(target=manager.poll_once)
        poller.start()
        deadline = time.monotonic() + 60
        while _states(manager).get(1) != UNLOADING and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _states(manager) == {2: AVAILABLE, 1: UNLOADING}
        with manager.handle() as fresh:
            assert fresh.version == 2  # new requests go to the new version at once
        _, outputs = held.predict(inputs)  # the held one still answers, as version 1
        assert held.version == 1
        np.testing.assert_array_equal(outputs[OUT_KEY_FRAME], expected_key_frames(inputs, 0))
        assert poller.is_alive()  # the unload waits for us
    poller.join(timeout=60)
    assert _states(manager) == {2: AVAILABLE, 1: END}


def test_broken_new_version_leaves_the_old_one_serving(tmp_path, toy_export, toy_export_offset):
    install_version(toy_export, tmp_path, 1)
    with ModelServer(MODEL_NAME, str(tmp_path), poll_interval_s=0) as server:
        manager = server.manager
        export_broken_model(str(tmp_path / "2"))
        manager.poll_once()
        statuses = {s.version: s for s in manager.statuses()}
        assert statuses[1].state == AVAILABLE
        assert statuses[2].state == END and statuses[2].error_code == grpc.StatusCode.UNKNOWN
        assert statuses[2].error_message
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.grpc_target)
        )
        r = stub.Predict(make_predict_request(MODEL_NAME, toy_inputs(1)), timeout=30)
        assert r.model_spec.version.value == 1
        manager.poll_once()  # unchanged broken directory: not retried
        assert manager.serving_version == 1
        # A version whose warmup fails is refused the same way.
        install_version(toy_export_offset, tmp_path, 3)
        bad = toy_inputs(1)
        bad[TEMPORAL] = np.zeros((1, 9, 9), np.float32)
        write_warmup_requests(str(tmp_path / "3"), MODEL_NAME, [bad])
        manager.poll_once()
        statuses = {s.version: s for s in manager.statuses()}
        assert statuses[3].state == END and "warmup request 0 failed" in statuses[3].error_message
        assert manager.serving_version == 1
        # A good, newer version then replaces version 1.
        install_version(toy_export_offset, tmp_path, 4)
        manager.poll_once()
        assert manager.serving_version == 4
        assert _states(manager) == {4: AVAILABLE, 3: END, 2: END, 1: END}


def test_warmup_records_are_tf_serving_prediction_logs_and_are_replayed(tmp_path, toy_export):
    path = install_version(toy_export, tmp_path, 1)
    batches = [toy_inputs(1, seed=1), toy_inputs(3, seed=2)]
    written = write_warmup_requests(path, MODEL_NAME, batches)
    assert written == f"{path}/{WARMUP_FILE}"
    records = list(tf.data.TFRecordDataset(written).as_numpy_iterator())
    assert len(records) == 2
    log = prediction_log_pb2.PredictionLog.FromString(records[1])
    assert log.predict_log.request.model_spec.name == MODEL_NAME
    np.testing.assert_array_equal(
        tf.make_ndarray(log.predict_log.request.inputs[TEMPORAL]), batches[1][TEMPORAL]
    )
    assert len(read_warmup_requests(path)) == 2
    manager = ModelManager(MODEL_NAME, str(tmp_path), poll_interval_s=0)
    manager.start()
    with manager.handle() as servable:
        assert servable.warmup_requests_replayed == 2


def test_warmup_writer_rejects_bad_arguments(tmp_path, toy_export):
    from serving.warmup import WarmupError

    with pytest.raises(WarmupError, match="not a SavedModel directory"):
        write_warmup_requests(str(tmp_path), MODEL_NAME, [toy_inputs(1)])
    with pytest.raises(WarmupError, match="inputs_batches is empty"):
        write_warmup_requests(toy_export, MODEL_NAME, [])


def test_missing_base_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model base path .*nope.* does not exist"):
        ModelManager(MODEL_NAME, str(tmp_path / "nope")).start()


def test_no_version_yet_is_not_found_until_one_appears(tmp_path, toy_export):
    manager = ModelManager(MODEL_NAME, str(tmp_path), poll_interval_s=0)
    manager.start()
    from serving.errors import ServingError

    with pytest.raises(ServingError) as info:
        with manager.handle():
            pass
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    (tmp_path / "not-a-version").mkdir()
    install_version(toy_export, tmp_path, 5)
    manager.poll_once()
    assert manager.serving_version == 5
