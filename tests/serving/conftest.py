"""Fixtures of the serving tests: exported test models and a running server on loopback."""

import shutil

import grpc
import pytest
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.server import ModelServer
from tests.serving.toy_model import export_toy_model

MODEL_NAME = "vre"


@pytest.fixture(scope="session")
def toy_export(tmp_path_factory):
    """A toy Contract-2 SavedModel (offset 0), exported once; copy it into a base path."""
    return export_toy_model(str(tmp_path_factory.mktemp("toy") / "model"))


@pytest.fixture(scope="session")
def toy_export_offset(tmp_path_factory):
    """The toy model answering a different key frame (offset 1): a distinguishable new version."""
    return export_toy_model(str(tmp_path_factory.mktemp("toy1") / "model"), offset=1)


def install_version(source: str, base_path, version: int) -> str:
    """Copies an exported SavedModel into <base_path>/<version> the way a Pusher does:
    into a temporary name first, then renamed, so the watcher never sees half a copy."""
    staging = base_path / f".staging-{version}"
    shutil.copytree(source, staging)
    final = base_path / str(version)
    staging.rename(final)
    return str(final)


@pytest.fixture(scope="module")
def toy_server(tmp_path_factory, toy_export):
    """A server of the toy model (version 1) on loopback, shared by a test module."""
    base = tmp_path_factory.mktemp("base")
    install_version(toy_export, base, 1)
    with ModelServer(MODEL_NAME, str(base), poll_interval_s=0) as server:
        yield server


@pytest.fixture(scope="module")
def stubs(toy_server):
    """(PredictionServiceStub, ModelServiceStub) on the toy server."""
    channel = grpc.insecure_channel(toy_server.grpc_target)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()
