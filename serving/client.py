"""`CaptionClient`: captions for Contract-1 features from any TF Serving-protocol server.

It speaks only the official `tensorflow_serving.apis` gRPC stubs, so it works unchanged against
`vre serve` and against the `tensorflow/serving` image (Kubernetes, KServe).
"""

import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from serving.warmup import make_predict_request
from vre_common.contract import (
    AUDIO,
    OUT_CAPTION,
    OUT_KEY_FRAME,
    OUT_KEY_FRAME_PROBS,
    OUT_TEMPORAL_ATTENTION,
    OUT_TOKENS,
    SERVING_DEFAULT,
    SPATIAL,
    TEMPORAL,
)

_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_INPUTS = (TEMPORAL, SPATIAL, AUDIO)
_OUTPUTS = (OUT_CAPTION, OUT_KEY_FRAME, OUT_KEY_FRAME_PROBS, OUT_TOKENS)


class CaptionServerError(RuntimeError):
    """The server refused or failed a request; the message names the server and the status.

    Attributes:
        code: the grpc.StatusCode the server answered.
    """

    def __init__(self, message: str, code: grpc.StatusCode):
        super().__init__(message)
        self.code = code


class CaptionClient:
    """Captions videos' features through a TF Serving Predict call.

    Args:
        target: "host:port" of the gRPC API.
        model_name: the served model's name.
        signature_name: the signature to call (Contract 2's feature signature by default).
        timeout_s: deadline of each call.

    Example:
        >>> with CaptionClient("127.0.0.1:8500") as client:
        ...     client.caption_features([features])[0]["caption"]
        'a man is riding a bike'
    """

    def __init__(
        self,
        target: str,
        model_name: str = "vre",
        signature_name: str = SERVING_DEFAULT,
        timeout_s: float = 60.0,
    ):
        if ":" not in target:
            raise ValueError(f"server {target!r} is not HOST:PORT")
        self.target = target
        self.model_name = model_name
        self.signature_name = signature_name
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ],
        )
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def _fail(self, what: str, e: grpc.RpcError):
        raise CaptionServerError(
            f"{what} on {self.target} (model {self.model_name!r}) failed: "
            f"{e.code().name}: {e.details()}",
            e.code(),
        ) from e

    def caption_features(self, features_batch: list[dict], attention=False) -> list[dict]:
        """Captions a batch of videos in one Predict call.

        Args:
            features_batch: one dict per video with `temporal` [K, C], `spatial` [N*M, C] and
                `audio` [128] (what `VideoFeatureExtractor.extract` returns).
            attention: also return the decoder's `temporal_attention` [L, K] per video.

        Returns:
            One dict per video: `caption` (str), `key_frame` (int), `key_frame_probs` (list of
            float), `tokens` (list of int), `model_version` (int), `predict_ms` (the call's
            round trip, shared by the batch).
        """
        if not features_batch:
            return []
        inputs = {}
        for name in _INPUTS:
            missing = [i for i, f in enumerate(features_batch) if name not in f]
            if missing:
                raise ValueError(f"features of video(s) {missing} have no {name!r}")
            try:
                inputs[name] = np.stack(
                    [np.asarray(f[name], dtype=np.float32) for f in features_batch]
                )
            except ValueError as e:
                raise ValueError(f"the videos' {name!r} features differ in shape: {e}") from e
        request = make_predict_request(self.model_name, inputs, self.signature_name)
        outputs = _OUTPUTS + ((OUT_TEMPORAL_ATTENTION,) if attention else ())
        request.output_filter.extend(outputs)
        started = time.perf_counter()
        try:
            response = self._predict.Predict(request, timeout=self.timeout_s)
        except grpc.RpcError as e:
            self._fail("Predict", e)
        predict_ms = (time.perf_counter() - started) * 1000.0
        out = {name: tf.make_ndarray(response.outputs[name]) for name in outputs}
        answers = [
            {
                "caption": out[OUT_CAPTION][i].decode("utf-8"),
                "key_frame": int(out[OUT_KEY_FRAME][i]),
                "key_frame_probs": [float(p) for p in out[OUT_KEY_FRAME_PROBS][i]],
                "tokens": [int(t) for t in out[OUT_TOKENS][i]],
                "model_version": int(response.model_spec.version.value),
                "predict_ms": predict_ms,
            }
            for i in range(len(features_batch))
        ]
        if attention:
            for i, answer in enumerate(answers):
                answer[OUT_TEMPORAL_ATTENTION] = out[OUT_TEMPORAL_ATTENTION][i]
        return answers

    def model_status(self) -> list[tuple[int, str]]:
        """(version, state name) of every version the server knows of the model."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model_name
        try:
            response = self._models.GetModelStatus(request, timeout=self.timeout_s)
        except grpc.RpcError as e:
            self._fail("GetModelStatus", e)
        state = get_model_status_pb2.ModelVersionStatus.State.Name
        return [(s.version, state(s.state)) for s in response.model_version_status]

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
