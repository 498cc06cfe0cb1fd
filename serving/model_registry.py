"""The served models by name, and the TF Serving request logic both front ends share.

gRPC and REST differ only in how they encode requests and answers; everything a request means
(which model and version, which signature, which status code when it is wrong) lives here, so the
two cannot drift apart.
"""

import logging
import time

import grpc
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from serving.errors import ServingError, invalid_argument, not_found
from serving.model_manager import ModelManager
from serving.tensor_codec import array_to_proto, proto_to_array

log = logging.getLogger("vre.serving")

SIGNATURE_DEF_FIELD = "signature_def"  # the only metadata field TF Serving supports


class ModelRegistry:
    """The models this server serves, each with its own ModelManager.

    Args:
        managers: the model managers, keyed by model name.
    """

    def __init__(self, managers: dict[str, ModelManager]):
        self.managers = dict(managers)

    def manager(self, model_spec: model_pb2.ModelSpec, for_status: bool = False) -> ModelManager:
        manager = self.managers.get(model_spec.name)
        if manager is not None:
            return manager
        if for_status:
            raise not_found(f"Could not find any versions of model {model_spec.name}")
        if model_spec.HasField("version"):
            what = f"Specific({model_spec.name}, {model_spec.version.value})"
        else:
            what = f"Latest({model_spec.name})"
        raise not_found(f"Servable not found for request: {what}")

    def handle(self, model_spec: model_pb2.ModelSpec):
        """A context manager holding the version a request's ModelSpec names."""
        version = model_spec.version.value if model_spec.HasField("version") else None
        return self.manager(model_spec).handle(version, model_spec.version_label)

    # -- the three served methods, on protos -------------------------------------------------

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        """Predict: the request's inputs through the named signature."""
        inputs = {name: proto_to_array(name, t) for name, t in request.inputs.items()}
        signature, outputs, servable = self.predict_arrays(
            request.model_spec, inputs, request.model_spec.signature_name, request.output_filter
        )
        response = predict_pb2.PredictResponse()
        _fill_model_spec(response.model_spec, servable, signature)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(array_to_proto(value))
        return response

    def predict_arrays(self, model_spec, inputs: dict, signature_name: str, output_filter=()):
        """Predict on numpy inputs: (signature key, {output: np.ndarray}, the servable used)."""
        with self.handle(model_spec) as servable:
            signature, outputs = servable.predict(inputs, signature_name, output_filter)
            return signature, outputs, servable

    def get_model_metadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """GetModelMetadata: the signature defs of the requested version."""
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        with self.handle(request.model_spec) as servable:
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, signature_def in servable.signature_defs.items():
                signature_map.signature_def[key].CopyFrom(signature_def)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _fill_model_spec(response.model_spec, servable, "")
        packed = any_pb2.Any()
        packed.Pack(signature_map)
        response.metadata[SIGNATURE_DEF_FIELD].CopyFrom(packed)
        return response

    def get_model_status(
        self, request: get_model_status_pb2.GetModelStatusRequest
    ) -> get_model_status_pb2.GetModelStatusResponse:
        """GetModelStatus: the state of every version (or of the one requested)."""
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        manager = self.manager(request.model_spec, for_status=True)
        version = (
            request.model_spec.version.value if request.model_spec.HasField("version") else None
        )
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in manager.statuses(version):
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state)
            entry.status.error_code = status.error_code.value[0]
            entry.status.error_message = status.error_message
        return response


def _fill_model_spec(spec: model_pb2.ModelSpec, servable, signature_name: str):
    spec.name = servable.model_name
    spec.version.value = servable.version
    spec.signature_name = signature_name


class RequestTimer:
    """Logs one line per request: front end, method, model, status code and latency.

    Args:
        front: "grpc" or "rest".
        method: the method or route name.
        model: the model name the request addressed.
    """

    def __init__(self, front: str, method: str, model: str):
        self.front, self.method, self.model = front, method, model
        self.started = time.perf_counter()

    def done(self, code: grpc.StatusCode = grpc.StatusCode.OK, message: str = ""):
        ms = (time.perf_counter() - self.started) * 1000.0
        suffix = f" ({message[:200]})" if message else ""
        log.info(
            "%s %s model=%s %s %.2f ms%s", self.front, self.method, self.model or "-", code.name,
            ms, suffix,
        )


def internal_error(e: Exception) -> ServingError:
    """An unexpected failure as INTERNAL, so a request never kills the server."""
    log.exception("unexpected error while serving a request")
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
