"""Warmup records: `assets.extra/tf_serving_warmup_requests`, as TF Serving reads them.

The file is a TFRecord of `tensorflow.serving.PredictionLog` protos, each holding a
`PredictRequest` (servables/tensorflow/saved_model_warmup_util.cc). The Trainer writes it after
export; both TF Serving and our server replay it on load, before a version takes traffic, so the
first real request does not pay for graph tracing and kernel set-up.
"""

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from vre_common import storage
from vre_common.contract import SERVING_DEFAULT, WARMUP_FILE

# TF Serving refuses files with more records than this (WarmupConsts::kMaxNumRecords).
MAX_WARMUP_RECORDS = 1000


class WarmupError(RuntimeError):
    """The warmup file is unreadable, too long, or one of its requests failed."""


def warmup_path(saved_model_dir: str) -> str:
    """Where the warmup file of a SavedModel lives (the folder may be remote: gs://)."""
    return storage.join(saved_model_dir, WARMUP_FILE)


def make_predict_request(
    model_name: str, inputs: dict, signature_name: str = SERVING_DEFAULT, version=None
) -> predict_pb2.PredictRequest:
    """A PredictRequest for numpy inputs.

    Args:
        model_name: the served model's name.
        inputs: {input name: array-like}; batched along the first axis.
        signature_name: the signature key.
        version: an integer version to pin, or None for the latest.
    """
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    return request


def write_warmup_requests(
    saved_model_dir: str,
    model_name: str,
    inputs_batches: list[dict],
    signature_name: str = SERVING_DEFAULT,
) -> str:
    """Writes one PredictionLog per batch into the SavedModel's warmup file.

    Args:
        saved_model_dir: an exported SavedModel directory.
        model_name: the name the model will be served under.
        inputs_batches: a list of {input name: np.ndarray} batches (at most 1000).
        signature_name: the signature the requests call.

    Returns:
        The path of the written file.
    """
    if not storage.isfile(storage.join(saved_model_dir, "saved_model.pb")):
        raise WarmupError(f"{saved_model_dir!r} is not a SavedModel directory (no saved_model.pb)")
    if not inputs_batches:
        raise WarmupError("inputs_batches is empty: give at least one batch of inputs")
    if len(inputs_batches) > MAX_WARMUP_RECORDS:
        raise WarmupError(
            f"{len(inputs_batches)} warmup batches given; TF Serving accepts at most "
            f"{MAX_WARMUP_RECORDS}"
        )
    path = warmup_path(saved_model_dir)
    storage.makedirs(storage.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:  # writes through gfile: local or remote
        for inputs in inputs_batches:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(
                    request=make_predict_request(model_name, inputs, signature_name)
                )
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(saved_model_dir: str) -> list[predict_pb2.PredictRequest]:
    """The PredictRequests of a SavedModel's warmup file ([] when it has none).

    Args:
        saved_model_dir: the SavedModel directory.
    """
    path = warmup_path(saved_model_dir)
    if not storage.exists(path):
        return []
    requests = []
    try:
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            log = prediction_log_pb2.PredictionLog.FromString(record)
            kind = log.WhichOneof("log_type")
            if kind != "predict_log":
                raise WarmupError(f"{path}: warmup record of type {kind!r}; only Predict is served")
            requests.append(log.predict_log.request)
            if len(requests) > MAX_WARMUP_RECORDS:
                raise WarmupError(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
    except tf.errors.OpError as e:
        raise WarmupError(f"cannot read warmup records at {path}: {e.message}") from e
    return requests
