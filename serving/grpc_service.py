"""The gRPC front end: TF Serving's PredictionService and ModelService on a ModelRegistry.

The generated servicer base classes answer UNIMPLEMENTED for the methods not overridden here
(Classify, Regress, MultiInference, HandleReloadConfigRequest), as the issue asks.
"""

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.errors import ServingError
from serving.model_registry import ModelRegistry, RequestTimer, internal_error


def _serve(method: str, request, context, call):
    timer = RequestTimer("grpc", method, request.model_spec.name)
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
    """tensorflow.serving.PredictionService: Predict and GetModelMetadata.

    Args:
        registry: the served models.
    """

    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    def Predict(self, request, context):
        return _serve("Predict", request, context, self.registry.predict)

    def GetModelMetadata(self, request, context):
        return _serve("GetModelMetadata", request, context, self.registry.get_model_metadata)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus.

    Args:
        registry: the served models.
    """

    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    def GetModelStatus(self, request, context):
        return _serve("GetModelStatus", request, context, self.registry.get_model_status)


def add_services(server: grpc.Server, registry: ModelRegistry):
    """Registers both TF Serving services on a grpc server."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(registry), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(registry), server)
