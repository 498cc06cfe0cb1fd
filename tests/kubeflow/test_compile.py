"""The real pipeline (tfx_pipeline.create_pipeline from kubeflow/configs/msrvtt.yaml) compiled
by `vre pipeline compile --target kubeflow`, checked with KFP's own pipeline-spec protos."""

import json

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow import runtime_parameters
from tests.kubeflow.conftest import BUCKET, IMAGE

pytestmark = pytest.mark.slow  # TFX import + compile, once per session


@pytest.fixture(scope="module")
def spec(compiled_yaml):
    """The YAML package parsed strictly (unknown fields fail) into a PipelineSpec."""
    with open(compiled_yaml) as f:
        (doc,) = list(yaml.safe_load_all(f))
    return json_format.Parse(json.dumps(doc), pipeline_spec_pb2.PipelineSpec())


def _constant(task, name):
    """A task's constant input (a google.protobuf.Value in schema 2.1) as a Python value."""
    return json_format.MessageToDict(task.inputs.parameters[name].runtime_value.constant)


def _as_json(value):
    """A TFX exec property (proto, JSON text or plain value) as comparable JSON data."""
    if hasattr(value, "DESCRIPTOR"):
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return json.loads(json.dumps(value))


def _proto_json(text):
    return json.loads(text) if isinstance(text, str) else text


def test_every_component_is_a_task(spec, reference_pipeline):
    _, pipeline = reference_pipeline
    tasks = set(spec.root.dag.tasks)
    for component in pipeline.components:
        if component.id == "latest_blessed_model_resolver":
            # KubeflowV2 splits the Resolver into a model-blessing and a model resolver task.
            assert {
                f"{component.id}-model-blessing-resolver",
                f"{component.id}-model-resolver",
            } <= tasks
        else:
            assert component.id in tasks
    expected = {
        "ImportExampleGen",
        "StatisticsGen",
        "ContractSchemaGen",
        "ExampleValidator",
        "ValidationGate",
        "Trainer",
        "Evaluator",
        "ReportEvaluator",
        "Pusher",
    }
    assert expected <= tasks
    assert spec.pipeline_info.name == "vre-msrvtt"
    assert spec.schema_version == "2.1.0"


def test_every_component_runs_in_the_given_image(spec):
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    containers = {k: v["container"] for k, v in executors.items() if "container" in v}
    assert len(containers) == 9  # all but the two resolver tasks, which run no container
    for label, container in containers.items():
        assert container["image"] == IMAGE, label
        assert container["command"][:2] == ["python", "-m"]
    # ExampleGen's span-resolving driver runs in the same image before the executor.
    hook = containers["ImportExampleGen_executor"]["lifecycle"]["preCacheCheck"]
    assert hook["command"][-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
    # The config's Beam flags travel with every Beam-based component.
    assert "--direct_running_mode=multi_processing" in containers["Evaluator_executor"]["args"]
    # ExampleGen runs the shard-naming reader; the data-guard components run this project's code.
    assert "tfx_pipeline.record_reader.Executor" in json.dumps(containers["ImportExampleGen_executor"])
    assert "validation_components" in json.dumps(containers["ValidationGate_executor"])


def test_trainer_waits_for_the_validation_gate(spec):
    """The gate passes no artifact to the Trainer; the order is a task dependency in the spec."""
    tasks = spec.root.dag.tasks
    assert "ValidationGate" in tasks["Trainer"].dependent_tasks
    gate_inputs = tasks["ValidationGate"].inputs.artifacts
    assert gate_inputs["anomalies"].task_output_artifact.producer_task == "ExampleValidator"
    assert gate_inputs["examples"].task_output_artifact.producer_task == "ImportExampleGen"
    schema = tasks["ExampleValidator"].inputs.artifacts["schema"]
    assert schema.task_output_artifact.producer_task == "ContractSchemaGen"
    assert _constant(tasks["ContractSchemaGen"], "num_frames") == 20


def test_locations_are_runtime_parameters_with_the_config_defaults(spec):
    params = spec.root.input_definitions.parameters
    assert set(params) == {runtime_parameters.DATA_ROOT, runtime_parameters.PUSH_DESTINATION}
    data_root = params[runtime_parameters.DATA_ROOT]
    assert data_root.parameter_type == pipeline_spec_pb2.ParameterType.STRING
    assert data_root.is_optional
    assert data_root.default_value.string_value == f"gs://{BUCKET}/vre/data"
    destination = params[runtime_parameters.PUSH_DESTINATION].default_value.string_value
    assert runtime_parameters.serving_base_of(destination) == (
        f"gs://{BUCKET}/vre/serving",
        "vre",
    )
    assert spec.default_pipeline_root == f"gs://{BUCKET}/vre/pipeline-root"

    tasks = spec.root.dag.tasks
    example_gen = tasks["ImportExampleGen"].inputs.parameters
    assert example_gen["input_base"].component_input_parameter == runtime_parameters.DATA_ROOT
    input_config = json.loads(_constant(tasks["ImportExampleGen"], "input_config"))
    assert {s["name"]: s["pattern"] for s in input_config["splits"]} == {
        "train": "span-{SPAN}/train/*",
        "validation": "span-{SPAN}/validation/*",
        "test": "span-{SPAN}/test/*",
    }
    pusher = tasks["Pusher"].inputs
    assert pusher.parameters["push_destination"].component_input_parameter == (
        runtime_parameters.PUSH_DESTINATION
    )


def test_trainer_configuration_carried_over(spec, reference_pipeline):
    config, pipeline = reference_pipeline
    trainer = spec.root.dag.tasks["Trainer"]
    reference = next(c for c in pipeline.components if c.id == "Trainer").exec_properties
    assert _constant(trainer, "run_fn") == "tfx_pipeline.trainer_module.run_fn"
    custom = json.loads(_constant(trainer, "custom_config"))
    assert custom == _as_json(reference["custom_config"])
    assert custom["model_name"] == config.serving.model_name == "vre"
    assert custom["warmup_examples"] == 8
    assert custom["schedule_config"]["batch_size"] == 64
    assert custom["model_config"]["beam_size"] == 5
    for name in ("train_args", "eval_args"):
        assert _proto_json(_constant(trainer, name)) == _as_json(reference[name]), name
    assert json.loads(_constant(trainer, "train_args"))["splits"] == ["train"]
    assert [a.task_output_artifact.producer_task for a in trainer.inputs.artifacts.values()] == [
        "ImportExampleGen"
    ]


def test_evaluator_configuration_carried_over(spec):
    import tensorflow_model_analysis as tfma

    from tfx_pipeline import caption_metrics_tfma

    evaluator = spec.root.dag.tasks["Evaluator"]
    compiled = json_format.Parse(_constant(evaluator, "eval_config"), tfma.EvalConfig())
    # The config's blessing rule: CIDEr floor 0.40, margin 0.01 against the latest blessed model.
    assert compiled == caption_metrics_tfma.eval_config(cider_floor=0.40, cider_margin=0.01)
    thresholds = json.dumps(json_format.MessageToDict(compiled))
    assert "0.4" in thresholds and "0.01" in thresholds
    assert json.loads(_constant(evaluator, "example_splits")) == ["validation"]
    artifacts = evaluator.inputs.artifacts
    assert artifacts["model"].task_output_artifact.producer_task == "Trainer"
    assert artifacts["baseline_model"].task_output_artifact.producer_task == (
        "latest_blessed_model_resolver-model-resolver"
    )
    # Only a blessed model is pushed: the Pusher takes the Evaluator's blessing.
    blessing = spec.root.dag.tasks["Pusher"].inputs.artifacts["model_blessing"]
    assert blessing.task_output_artifact.producer_task == "Evaluator"
    assert blessing.task_output_artifact.output_artifact_key == "blessing"
    # The test split is only reported: no threshold, no baseline.
    report = spec.root.dag.tasks["ReportEvaluator"]
    assert json.loads(_constant(report, "example_splits")) == ["test"]
    assert "thresholds" not in _constant(report, "eval_config")
    assert set(report.inputs.artifacts) == {"examples", "model"}


def test_json_target_is_a_pipeline_job_of_the_same_spec(compiled_json, spec):
    with open(compiled_json) as f:
        job = json_format.Parse(f.read(), pipeline_spec_pb2.PipelineJob())
    as_spec = json_format.ParseDict(
        json_format.MessageToDict(job.pipeline_spec), pipeline_spec_pb2.PipelineSpec()
    )
    assert as_spec == spec
    values = job.runtime_config.parameter_values
    assert values[runtime_parameters.DATA_ROOT].string_value == f"gs://{BUCKET}/vre/data"
    assert job.runtime_config.gcs_output_directory == f"gs://{BUCKET}/vre/pipeline-root"


def test_kfp_sdk_loads_the_package_as_a_pipeline(compiled_yaml):
    """KFP's own SDK reads the package as a pipeline with the two optional string inputs."""
    from kfp import components

    loaded = components.load_component_from_file(compiled_yaml)
    assert loaded.name == "vre-msrvtt"
    inputs = loaded.component_spec.inputs
    assert set(inputs) == {runtime_parameters.DATA_ROOT, runtime_parameters.PUSH_DESTINATION}
    assert inputs[runtime_parameters.DATA_ROOT].type == "String"
    assert inputs[runtime_parameters.DATA_ROOT].optional
    assert inputs[runtime_parameters.DATA_ROOT].default == f"gs://{BUCKET}/vre/data"


def test_a_pipeline_with_the_span_resolver_is_refused(kubeflow_config, bucket_env, tmp_path):
    """compile_pipeline itself (not only `vre pipeline compile`) refuses multi-span training."""
    from kubeflow.compiler import compile_pipeline
    from tfx_pipeline.config import load_config
    from tfx_pipeline.pipeline import SPAN_RESOLVER, create_pipeline_from_config

    config = load_config(kubeflow_config)
    config.data.train_num_spans = 2
    pipeline = create_pipeline_from_config(config)
    assert SPAN_RESOLVER in {c.id for c in pipeline.components}
    output = tmp_path / "p.yaml"
    with pytest.raises(ValueError, match="cannot run on Kubeflow: the multi-span Resolver"):
        compile_pipeline(pipeline, IMAGE, str(output))
    assert not output.exists()
