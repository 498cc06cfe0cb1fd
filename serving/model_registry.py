"""The served models by name, and the TF Serving request logic both front ends share.

gRPC and REST differ only in how they encode requests and answers; everything a request means
(which model, version or label, which signature, which status code when it is wrong, its
deadline) lives here, so the two cannot drift apart. The set of models follows the
ModelServerConfig and changes on `reload_config` (HandleReloadConfigRequest, file polling).
"""

import logging
import threading
import time

import grpc
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from serving.batching import ModelRunner
from serving.errors import ServingError, invalid_argument, not_found
from serving.model_config import ModelConfigError, ModelServerConfig, check_model_config
from serving.model_manager import ModelManager
from serving.tensor_codec import array_to_proto, proto_to_array

log = logging.getLogger("vre.serving")

SIGNATURE_DEF_FIELD = "signature_def"  # the only metadata field TF Serving supports
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


class ModelRegistry:
    """The models this server serves, each with its own ModelManager.

    Args:
        managers: the model managers, keyed by model name.
        runner: runs model calls (batching, deadlines); a plain ModelRunner by default.
        tensor_content: answer numbers in `tensor_content` rather than the typed fields
            (`--enable_serialization_as_tensor_content`).
        make_manager: builds a started-able ModelManager from a ModelConfig proto (config
            reloads need it).
        allow_unavailable_labels: `--allow_version_labels_for_unavailable_models`.
        metrics: a ServingMetrics (optional).
    """

    def __init__(
        self,
        managers: dict[str, ModelManager],
        runner: ModelRunner | None = None,
        tensor_content: bool = False,
        make_manager=None,
        allow_unavailable_labels: bool = False,
        metrics=None,
    ):
        self._managers = dict(managers)
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.runner = runner or ModelRunner()
        self.tensor_content = tensor_content
        self._make_manager = make_manager
        self.allow_unavailable_labels = allow_unavailable_labels
        self.metrics = metrics
        self.config: ModelServerConfig | None = None

    @property
    def managers(self) -> dict[str, ModelManager]:
        with self._lock:
            return dict(self._managers)

    def manager(self, model_spec: model_pb2.ModelSpec, for_status: bool = False) -> ModelManager:
        if not model_spec.name and not for_status:
            raise invalid_argument("ModelSpec has no name specified.")
        with self._lock:
            manager = self._managers.get(model_spec.name)
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

    # -- the served methods, on protos --------------------------------------------------------

    def predict(
        self, request: predict_pb2.PredictRequest, deadline: float | None = None
    ) -> predict_pb2.PredictResponse:
        """Predict: the request's inputs through the named signature."""
        inputs = {name: proto_to_array(name, t) for name, t in request.inputs.items()}
        signature, outputs, servable = self.predict_arrays(
            request.model_spec,
            inputs,
            request.model_spec.signature_name,
            request.output_filter,
            deadline,
        )
        response = predict_pb2.PredictResponse()
        _fill_model_spec(response.model_spec, servable, signature)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(array_to_proto(value, self.tensor_content))
        return response

    def predict_arrays(
        self, model_spec, inputs: dict, signature_name: str, output_filter=(), deadline=None
    ):
        """Predict on numpy inputs: (signature key, {output: np.ndarray}, the servable used).

        Args:
            deadline: a time.monotonic() value; DEADLINE_EXCEEDED once it passes.
        """
        with self.handle(model_spec) as servable:
            call = servable.prepare(inputs, signature_name, output_filter)
            started = time.perf_counter()
            outputs = self.runner.run(servable, call, deadline)
            if self.metrics is not None:
                self.metrics.model_call(servable.model_name, time.perf_counter() - started)
            return call.signature, outputs, servable

    def check_inference_method(self, model_spec, method: str):
        """Classify / Regress on a model: INVALID_ARGUMENT unless the signature is of that kind.

        TF Serving answers INVALID_ARGUMENT (HTTP 400) when the signature is not a
        classification / regression one; a signature that is gets UNIMPLEMENTED here, since
        this server runs Predict signatures only.
        """
        with self.handle(model_spec) as servable:
            signature = servable.resolve_signature(model_spec.signature_name)
            kind = servable.signature_defs[signature].method_name
            wanted = CLASSIFY_METHOD if method == "classify" else REGRESS_METHOD
            what = "classification" if method == "classify" else "regression"
            if kind != wanted:
                raise invalid_argument(
                    f"Expected {what} signature method_name to be {wanted}. Was: {kind}"
                )
        raise ServingError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{what} signatures (tf.Example inputs) are not served by vre serve; use Predict",
        )

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
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        if spec.version_label:
            version = manager.version_for_label(spec.version_label)
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in manager.statuses(version):
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state)
            entry.status.error_code = status.error_code.value[0]
            entry.status.error_message = status.error_message
        return response

    # -- the model config ---------------------------------------------------------------------

    def reload_config(self, config: ModelServerConfig):
        """Serves exactly the models of a ModelServerConfig (ServerCore::ReloadConfig).

        New models are loaded before this returns (an error if one loads no version), removed
        ones unloaded, and the others get their new version policy and labels.
        """
        try:
            check_model_config(config)
        except ModelConfigError as e:
            raise invalid_argument(str(e)) from e
        if self._make_manager is None:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, "this server cannot change its models"
            )
        with self._reload_lock:
            wanted = {m.name: m for m in config.model_config_list.config}
            current = self.managers
            for name, model in wanted.items():
                manager = current.get(name)
                if manager is None:
                    manager = self._make_manager(model)
                    try:
                        manager.start()
                    except FileNotFoundError as e:
                        raise not_found(str(e)) from e
                    if manager.serving_version is None:
                        manager.unload_all()
                        failed = manager.failed_versions()
                        why = f"; {failed}" if failed else f": no version under {model.base_path}"
                        raise ServingError(
                            grpc.StatusCode.UNKNOWN, f"model {name} loaded no version{why}"
                        )
                    with self._lock:
                        self._managers[name] = manager
                    log.info("model %s added from %s", name, model.base_path)
                else:
                    if model.base_path.rstrip("/") != manager.base_path.rstrip("/"):
                        log.info("model %s: base path is now %s", name, model.base_path)
                        manager.base_path = model.base_path
                    manager.set_version_policy(model.model_version_policy)
                    manager.poll_once()
                if model.version_labels or manager.labels:
                    manager.set_labels(dict(model.version_labels), self.allow_unavailable_labels)
            for name in set(current) - set(wanted):
                with self._lock:
                    manager = self._managers.pop(name)
                log.info("model %s removed from the config: unloading", name)
                manager.unload_all()
            self.config = config

    def stop(self):
        for manager in self.managers.values():
            manager.stop()
        self.runner.stop()


def _fill_model_spec(spec: model_pb2.ModelSpec, servable, signature_name: str):
    spec.name = servable.model_name
    spec.version.value = servable.version
    spec.signature_name = signature_name


class RequestTimer:
    """Logs one line per request (front end, method, model, status code, latency) and counts it.

    Args:
        front: "grpc" or "rest".
        method: the method or route name.
        model: the model name the request addressed.
        metrics: a ServingMetrics (optional).
        api: the API name for the metrics (predict, GetModelStatus, ...).
    """

    def __init__(self, front: str, method: str, model: str, metrics=None, api: str = ""):
        self.front, self.method, self.model = front, method, model
        self.metrics, self.api = metrics, api
        self.started = time.perf_counter()

    def done(self, code: grpc.StatusCode = grpc.StatusCode.OK, message: str = ""):
        seconds = time.perf_counter() - self.started
        suffix = f" ({message[:200]})" if message else ""
        log.info(
            "%s %s model=%s %s %.2f ms%s",
            self.front,
            self.method,
            self.model or "-",
            code.name,
            seconds * 1000.0,
            suffix,
        )
        if self.metrics is not None and self.api:
            self.metrics.request(
                self.model,
                self.api,
                "GRPC" if self.front == "grpc" else "REST",
                code.name,
                seconds,
            )


def internal_error(e: Exception) -> ServingError:
    """An unexpected failure as INTERNAL, so a request never kills the server."""
    log.exception("unexpected error while serving a request")
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
