"""Fixtures of the serving tests: exported models and a running server on loopback."""

import grpc
import pytest
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.server import ModelServer
from tests.serving.helpers import MODEL_NAME, install_version
from tests.serving.toy_model import export_toy_model


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """The real tiny VRE captioner exported in Contract 2 (built once per session, ~20 s)."""
    from vre_keras.tiny_model import build_tiny_exported_model

    return build_tiny_exported_model(str(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="session")
def toy_export(tmp_path_factory):
    """A toy Contract-2 SavedModel whose answers numpy can check (offset 0)."""
    return export_toy_model(str(tmp_path_factory.mktemp("toy") / "model"))


@pytest.fixture(scope="session")
def toy_export_offset(tmp_path_factory):
    """The toy model answering a different key frame (offset 1): a distinguishable new version."""
    return export_toy_model(str(tmp_path_factory.mktemp("toy1") / "model"), offset=1)


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory, tiny_export):
    """A server of the tiny model (version 1) on loopback, shared by the session."""
    base = tmp_path_factory.mktemp("base")
    install_version(tiny_export, base, 1)
    with ModelServer(MODEL_NAME, str(base), poll_interval_s=0) as server:
        yield server


@pytest.fixture(scope="session")
def stubs(tiny_server):
    """(PredictionServiceStub, ModelServiceStub) on the tiny model's server."""
    channel = grpc.insecure_channel(tiny_server.grpc_target)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()
