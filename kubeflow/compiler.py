"""Compiles the TFX pipeline to a Kubeflow Pipelines v2 pipeline spec (KubeflowV2DagRunner).

The output is what `kfp.Client` uploads: a `.yaml` PipelineSpec (KFP's own package format), or
a `.json` PipelineJob (TFX's native output, as Vertex AI Pipelines takes it). Every component
runs in the one given image; the data location and the push destination become run-time
parameters (kubeflow/runtime_parameters.py); the pipeline root of the config becomes the spec's
default pipeline root, which a run may override.
"""

import json
import os
import re

import yaml

from kubeflow import runtime_parameters

PACKAGE_SUFFIXES = (".yaml", ".yml", ".json")
# An OCI image reference: [registry[:port]/]path[:tag][@digest], no whitespace.
_IMAGE_RE = re.compile(
    r"^[a-z0-9][a-z0-9._\-/:]*[a-z0-9](:[\w][\w.\-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)


def check_image(image: str) -> str:
    """Returns `image` if it is a plausible container image reference, else raises ValueError.

    Args:
        image: e.g. `us-docker.pkg.dev/project/repo/vre-pipeline:0.1.0`.
    """
    if not image or not _IMAGE_RE.match(image):
        raise ValueError(
            f"--image {image!r} is not a container image reference "
            "(expected e.g. registry.example.com/vre-pipeline:0.1.0, lower-case, no spaces)"
        )
    return image


def check_package_path(path: str) -> str:
    """Returns `path` if its suffix is one this module writes and kfp reads, else raises."""
    if not str(path).endswith(PACKAGE_SUFFIXES):
        raise ValueError(
            f"pipeline package {path!r} must end with one of {', '.join(PACKAGE_SUFFIXES)} "
            "(.yaml for Kubeflow Pipelines, .json for a TFX PipelineJob)"
        )
    return str(path)


MULTI_SPAN_REFUSAL = (
    "train_num_spans={n} cannot run on Kubeflow: the multi-span Resolver "
    "(SpanRangeStrategy) does not compile with TFX's KubeflowV2 compiler, and ExampleGen "
    "ingests one span per run. Set data.train_num_spans: 1 and make every span hold the whole "
    "dataset: `vre spans build --data_root DATA --new NEW_SPAN_DIR` writes span N+1 = span N's "
    "records + the new videos' records, without running the CNN again (docs/kubeflow.md)."
)


def check_single_span(pipeline) -> None:
    """ValueError when `pipeline` trains on several spans (a span Resolver), which KFP v2 can't run."""
    from tfx_pipeline.pipeline import SPAN_RESOLVER

    for component in pipeline.components:
        if component.id == SPAN_RESOLVER:
            raise ValueError(MULTI_SPAN_REFUSAL.format(n="N > 1"))


def compile_pipeline(pipeline, image: str, output_path: str, display_name: str | None = None):
    """Compiles `pipeline` for Kubeflow Pipelines and writes it to `output_path`.

    Args:
        pipeline: a freshly built `tfx.v1.dsl.Pipeline`; its data location and push destination
            are made run-time parameters in place (kubeflow/runtime_parameters.py).
        image: the container image every component runs in (kubeflow/Dockerfile).
        output_path: `.yaml`/`.yml` for a KFP PipelineSpec, `.json` for a TFX PipelineJob.
        display_name: the name shown in the KFP UI; defaults to the pipeline's name.

    Returns:
        The compiled `kfp.pipeline_spec.pipeline_spec_pb2.PipelineSpec`.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.v1.orchestration.experimental import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig

    check_image(image)
    check_package_path(output_path)
    check_single_span(pipeline)
    defaults = runtime_parameters.parameterize(pipeline)
    # Schema 2.1 writes `parameterType` and typed parameter values, what the KFP 2.x backend and
    # the kfp 2 SDK use; the 2.0 schema's legacy `type` fields are from the KFP v2 beta.
    runner = KubeflowV2DagRunner(
        config=KubeflowV2DagRunnerConfig(
            display_name=display_name, default_image=image, use_pipeline_spec_2_1=True
        )
    )
    job = runner.run(pipeline, parameter_values=defaults, write_out=False)
    spec_dict = job["pipelineSpec"]
    # TFX puts the defaults only into the PipelineJob's runtimeConfig, which a KFP upload drops:
    # written into the spec, a run that sets no parameter still gets the config's locations.
    root_params = spec_dict["root"]["inputDefinitions"]["parameters"]
    for name, default in defaults.items():
        root_params[name]["defaultValue"] = default
        root_params[name]["isOptional"] = True
    root = pipeline.pipeline_info.pipeline_root
    if root:
        spec_dict["defaultPipelineRoot"] = str(root)
    spec = json_format.ParseDict(spec_dict, pipeline_spec_pb2.PipelineSpec())

    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    with open(output_path, "w") as f:
        if output_path.endswith(".json"):
            json.dump(job, f, indent=1, sort_keys=True)
        else:
            f.write(
                "# VRE pipeline for Kubeflow Pipelines, compiled by TFX KubeflowV2DagRunner.\n"
                f"# Image: {image}\n"
                f"# Run-time parameters: {', '.join(sorted(root_params))}\n"
            )
            yaml.safe_dump(spec_dict, f, sort_keys=True)
    return spec


def compile_config(config_path: str, image: str, output_path: str, display_name=None):
    """Builds the pipeline of a `vre pipeline` config file and compiles it for Kubeflow.

    The same `create_pipeline` as every other runner (tfx_pipeline/pipeline.py); Kubeflow keeps
    ML Metadata itself, so no metadata connection is given.

    Args:
        config_path: a pipeline config (e.g. kubeflow/configs/msrvtt.yaml).
        image: the container image every component runs in.
        output_path: `.yaml`/`.yml` (KFP PipelineSpec) or `.json` (TFX PipelineJob).
        display_name: the name shown in the KFP UI; defaults to the config's pipeline_name.

    Returns:
        The compiled PipelineSpec.
    """
    from tfx_pipeline.config import load_config

    # Bad input is refused before TFX (and TensorFlow) are imported, which takes many seconds.
    check_image(image)
    check_package_path(output_path)
    config = load_config(config_path)
    if config.data.train_num_spans > 1:
        raise ValueError(
            f"{config_path}: " + MULTI_SPAN_REFUSAL.format(n=config.data.train_num_spans)
        )
    # Paths expand $VARS lazily: resolve them now, so an unset variable is named before TFX loads.
    _ = (config.resolved_pipeline_root, config.resolved_data_root, config.push_destination)
    from tfx_pipeline.pipeline import create_pipeline_from_config

    pipeline = create_pipeline_from_config(config, metadata_connection_config=None)
    return compile_pipeline(pipeline, image, output_path, display_name=display_name)


def load_pipeline_spec(path: str):
    """Reads a compiled package (`.yaml` PipelineSpec or `.json` PipelineJob) as a PipelineSpec.

    Args:
        path: a file written by `compile_pipeline`.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    check_package_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pipeline package {path!r} does not exist")
    with open(path) as f:
        if path.endswith(".json"):
            doc = json.load(f)
            if "pipelineSpec" not in doc:
                raise ValueError(f"{path!r} is not a PipelineJob JSON (no 'pipelineSpec' key)")
            doc = doc["pipelineSpec"]
        else:
            docs = list(yaml.safe_load_all(f))
            if not docs or not isinstance(docs[0], dict):
                raise ValueError(f"{path!r} holds no pipeline spec YAML document")
            doc = docs[0]
    try:
        return json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise ValueError(f"{path!r} is not a valid KFP pipeline spec: {e}") from e
