"""The compiled Pusher task, run here with its own container command: it reads the serving base
from the run-time parameter `submit --serving_base` sends, and pushes only a blessed model.

The task's `command` + `args` from the compiled spec are executed in-process (TFX's KubeflowV2
executor entrypoint, what the container runs), with an ExecutorInput as KFP builds it: the
Trainer's model and the Evaluator's blessing as input artifacts, the run's parameters.
"""

import json
import os

import pytest
import tensorflow as tf
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow import runtime_parameters
from kubeflow.submission import run_parameters

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spec(compiled_yaml):
    with open(compiled_yaml) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    """A real SavedModel where the Trainer puts it (`<model uri>/Format-Serving`)."""
    uri = tmp_path_factory.mktemp("trainer") / "model"
    module = tf.Module()
    module.double = tf.function(
        lambda x: {"y": 2.0 * x}, input_signature=[tf.TensorSpec([None], tf.float32)]
    )
    tf.saved_model.save(module, str(uri / "Format-Serving"))
    return uri


def _run_pusher(spec, model_uri, blessed: bool, serving_base, work):
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    task = spec.root.dag.tasks["Pusher"]
    params = run_parameters(spec, serving_base=str(serving_base))  # what `submit` sends
    executor_input = pipeline_spec_pb2.ExecutorInput()
    for name, parameter in task.inputs.parameters.items():
        value = executor_input.inputs.parameter_values[name]
        if parameter.component_input_parameter:
            value.string_value = params[parameter.component_input_parameter]
        else:
            value.CopyFrom(parameter.runtime_value.constant)
    model = executor_input.inputs.artifacts["model"].artifacts.add()
    model.name, model.uri = "trainer-model", str(model_uri)
    model.type.schema_title = "tfx.Model"
    blessing = executor_input.inputs.artifacts["model_blessing"].artifacts.add()
    blessing.name, blessing.uri = "evaluator-blessing", str(work / "blessing")
    blessing.type.schema_title = "tfx.ModelBlessing"
    blessing.metadata.update({"blessed": int(blessed)})
    pushed = executor_input.outputs.artifacts["pushed_model"].artifacts.add()
    pushed.name, pushed.uri = "pusher-pushed-model", str(work / "pushed_model")
    pushed.type.schema_title = "tfx.PushedModel"
    executor_input.outputs.output_file = str(work / "executor_output.json")

    container = json_format.MessageToDict(spec.deployment_spec)["executors"]["Pusher_executor"][
        "container"
    ]
    assert container["command"][-1] == kubeflow_v2_run_executor.__name__
    invocation = json_format.MessageToJson(executor_input)
    argv = [invocation if a == "{{$}}" else a for a in container["args"]]
    kubeflow_v2_run_executor.main(kubeflow_v2_run_executor._parse_flags(argv))
    with open(work / "executor_output.json") as f:
        return json.load(f)


def test_blessed_model_is_pushed_to_the_runs_serving_base(spec, trained_model, tmp_path):
    serving_base = tmp_path / "serving"
    output = _run_pusher(spec, trained_model, True, serving_base, tmp_path / "task")
    model_dir = serving_base / "vre"  # <serving base>/<model name>, the model name of the spec
    (version,) = os.listdir(model_dir)
    assert version.isdigit()  # TF Serving's integer version folder
    pushed = tf.saved_model.load(str(model_dir / version))
    assert pushed.double(tf.constant([1.5]))["y"].numpy().tolist() == [3.0]
    (artifact,) = output["artifacts"]["pushed_model"]["artifacts"]
    assert artifact["metadata"]["pushed"] == 1
    assert artifact["metadata"]["pushed_destination"] == str(model_dir / version)


def test_model_without_blessing_is_not_pushed(spec, trained_model, tmp_path):
    serving_base = tmp_path / "serving"
    output = _run_pusher(spec, trained_model, False, serving_base, tmp_path / "task")
    assert not serving_base.exists() or not any(serving_base.rglob("saved_model.pb"))
    (artifact,) = output["artifacts"]["pushed_model"]["artifacts"]
    assert artifact["metadata"]["pushed"] == 0


def test_spec_default_destination_is_the_configs(spec):
    default = spec.root.input_definitions.parameters[runtime_parameters.PUSH_DESTINATION]
    base, model_name = runtime_parameters.serving_base_of(default.default_value.string_value)
    assert base.endswith("/vre/serving") and model_name == "vre"
