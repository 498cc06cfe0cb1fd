"""The gRPC front end: TF Serving's PredictionService and ModelService on a ModelRegistry.

Each call's gRPC deadline reaches the model call (TF Serving passes it as the session's run
timeout). Classify / Regress / MultiInference answer as TF Serving does for a model without such
signatures (INVALID_ARGUMENT); HandleReloadConfigRequest replaces the served models.
"""

import time

import grpc
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.errors import ServingError, invalid_argument
from serving.model_registry import ModelRegistry, RequestTimer, internal_error


def _deadline(context) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _serve(method: str, request, context, call, metrics=None, api="", model=None):
    name = model if model is not None else request.model_spec.name
    timer = RequestTimer("grpc", method, name, metrics, api)
    try:
        response = call(request)
    except ServingError as e:
        timer.done(e.code, e.message)
        context.abort(e.code, e.message)
    except Exception as e:  # never let a request take the server down
        err = internal_error(e)
        timer.done(err.code, err.message)
        context.abort(err.code, err.message)
    timer.done()
    return response


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService: Predict, GetModelMetadata, and the TF Serving
    answers of Classify / Regress / MultiInference for a Predict-only model.

    Args:
        registry: the served models.
    """

    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    def Predict(self, request, context):
        deadline = _deadline(context)
        return _serve(
            "Predict",
            request,
            context,
            lambda r: self.registry.predict(r, deadline),
            self.registry.metrics,
            "predict",
        )

    def GetModelMetadata(self, request, context):
        return _serve(
            "GetModelMetadata",
            request,
            context,
            self.registry.get_model_metadata,
            self.registry.metrics,
            "GetModelMetadata",
        )

    def Classify(self, request, context):
        return _serve(
            "Classify",
            request,
            context,
            lambda r: self.registry.check_inference_method(r.model_spec, "classify"),
            self.registry.metrics,
            "classify",
        )

    def Regress(self, request, context):
        return _serve(
            "Regress",
            request,
            context,
            lambda r: self.registry.check_inference_method(r.model_spec, "regress"),
            self.registry.metrics,
            "regress",
        )

    def MultiInference(self, request, context):
        def check(r):
            if not r.tasks:
                raise invalid_argument("Expected at least one task")
            for task in r.tasks:
                kind = task.method_name.rsplit("/", 1)[-1]
                if kind not in ("classify", "regress"):
                    raise invalid_argument(f"Unsupported signature method_name: {task.method_name}")
                self.registry.check_inference_method(task.model_spec, kind)

        name = request.tasks[0].model_spec.name if request.tasks else ""
        return _serve(
            "MultiInference",
            request,
            context,
            check,
            self.registry.metrics,
            "MultiInference",
            model=name,
        )


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus and HandleReloadConfigRequest.

    Args:
        registry: the served models.
    """

    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    def GetModelStatus(self, request, context):
        return _serve(
            "GetModelStatus",
            request,
            context,
            self.registry.get_model_status,
            self.registry.metrics,
            "GetModelStatus",
        )

    def HandleReloadConfigRequest(self, request, context):
        def reload(r):
            self.registry.reload_config(r.config)
            return model_management_pb2.ReloadConfigResponse()

        return _serve(
            "HandleReloadConfigRequest",
            request,
            context,
            reload,
            self.registry.metrics,
            "",
            model="",
        )


def add_services(server: grpc.Server, registry: ModelRegistry):
    """Registers both TF Serving services on a grpc server."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(registry), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(registry), server)
