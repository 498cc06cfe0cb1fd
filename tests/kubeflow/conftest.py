"""Fixtures of the Kubeflow tests: the compiled real pipeline and a recording KFP API server.

The pipeline is compiled once per session, in-process, through the `vre pipeline compile`
action (importing TFX costs ~15-25 s, so it is paid once), from the shipped Kubeflow config with
a made-up bucket name.
"""

import argparse
import os

import pytest

from tests.kubeflow.kfp_api_server import RecordingKfpServer

IMAGE = "registry.example.com/vre/vre-pipeline:0.1.0"
BUCKET = "vre-test-bucket"


@pytest.fixture(scope="session")
def kubeflow_config(project_root):
    return str(project_root / "kubeflow" / "configs" / "msrvtt.yaml")


@pytest.fixture(scope="session")
def bucket_env():
    """VRE_BUCKET set for the session (the config expands it), the old value restored after."""
    old = os.environ.get("VRE_BUCKET")
    os.environ["VRE_BUCKET"] = BUCKET
    yield BUCKET
    if old is None:
        os.environ.pop("VRE_BUCKET", None)
    else:
        os.environ["VRE_BUCKET"] = old


def _compile(config, output):
    from kubeflow.cli_actions import ACTIONS

    parser = argparse.ArgumentParser()
    ACTIONS["compile"].add_arguments(parser)
    args = parser.parse_args(
        ["--target", "kubeflow", "--image", IMAGE, "--output", output, "--config", config]
    )
    assert ACTIONS["compile"].run(args) == 0
    return output


@pytest.fixture(scope="session")
def compiled_yaml(tmp_path_factory, kubeflow_config, bucket_env):
    """The real pipeline compiled to a KFP PipelineSpec YAML package."""
    return _compile(kubeflow_config, str(tmp_path_factory.mktemp("kfp") / "vre-msrvtt.yaml"))


@pytest.fixture(scope="session")
def compiled_json(tmp_path_factory, kubeflow_config, bucket_env, compiled_yaml):
    """The same pipeline compiled to a TFX PipelineJob JSON (after the YAML: TFX is imported)."""
    return _compile(kubeflow_config, str(tmp_path_factory.mktemp("kfp") / "vre-msrvtt.json"))


@pytest.fixture(scope="session")
def reference_pipeline(kubeflow_config, bucket_env, compiled_yaml):
    """The TFX pipeline object create_pipeline builds from the same config (for comparison)."""
    from tfx_pipeline.config import load_config
    from tfx_pipeline.pipeline import create_pipeline_from_config

    config = load_config(kubeflow_config)
    return config, create_pipeline_from_config(config)


@pytest.fixture
def kfp_server():
    server = RecordingKfpServer().start()
    yield server
    server.stop()
