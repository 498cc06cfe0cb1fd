"""Each run trains on the newest span: the compiled ExampleGen's driver, run here for real.

On Kubeflow, ImportExampleGen's task first runs TFX's file-based ExampleGen driver (the
`preCacheCheck` hook of its container in the compiled spec): it resolves `{SPAN}` in the split
patterns to the highest span under `data_root` and fingerprints those files, which is also what
KFP's cache key sees. This test runs that driver with the very arguments of the compiled spec on
a local data root, adds a span, and runs it again.
"""

import json

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow import runtime_parameters

pytestmark = pytest.mark.slow


def _spec(path):
    import yaml

    with open(path) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())


def _write_span(data_root, span, videos):
    for split in ("train", "validation", "test"):
        folder = data_root / f"span-{span}" / split
        folder.mkdir(parents=True)
        (folder / "part-00000-of-00001.tfrecord.gz").write_bytes(b"x" * videos)


def _run_driver(spec, data_root, work):
    """Runs the ExampleGen driver as its container hook would, returns its ExecutorOutput."""
    from tfx.orchestration.kubeflow.v2.file_based_example_gen import driver

    task = spec.root.dag.tasks["ImportExampleGen"]
    executor_input = pipeline_spec_pb2.ExecutorInput()
    for name, parameter in task.inputs.parameters.items():
        value = executor_input.inputs.parameter_values[name]
        if parameter.component_input_parameter:
            assert parameter.component_input_parameter == runtime_parameters.DATA_ROOT
            value.string_value = str(data_root)  # what KFP substitutes for the run's parameter
        else:
            value.CopyFrom(parameter.runtime_value.constant)
    examples = executor_input.outputs.artifacts["examples"].artifacts.add()
    examples.name = "examples"
    examples.type.schema_title = "tfx.Examples"
    examples.uri = str(work / "examples")
    executor_input.outputs.output_file = str(work / "executor_output.json")

    executor = json_format.MessageToDict(spec.deployment_spec)["executors"][
        task.component_ref.name + "_executor"
    ]
    hook_args = executor["container"]["lifecycle"]["preCacheCheck"]["args"]
    placeholder = json_format.MessageToJson(executor_input)
    args = [placeholder if a == "{{$}}" else a for a in hook_args]
    driver.main(driver._parse_flags(args))  # the module's own flag parsing, as `python -m` does
    with open(work / "executor_output.json") as f:
        return json.load(f)


def test_next_run_picks_up_the_newest_span(compiled_yaml, tmp_path):
    spec = _spec(compiled_yaml)
    data_root = tmp_path / "data"
    _write_span(data_root, 1, videos=3)
    _write_span(data_root, 2, videos=5)

    first_dir = tmp_path / "run1"
    first = _run_driver(spec, data_root, first_dir)
    assert first["parameterValues"]["span"] == 2
    patterns = {
        s["name"]: s["pattern"]
        for s in json.loads(first["parameterValues"]["input_config"])["splits"]
    }
    assert patterns == {s: f"span-2/{s}/*" for s in ("train", "validation", "test")}

    # New videos arrive as span 3: the next run trains on them, with a new input fingerprint.
    _write_span(data_root, 3, videos=4)
    second = _run_driver(spec, data_root, tmp_path / "run2")
    assert second["parameterValues"]["span"] == 3
    assert "span-3/train/*" in second["parameterValues"]["input_config"]
    assert (
        second["parameterValues"]["input_fingerprint"]
        != first["parameterValues"]["input_fingerprint"]
    )
    (artifact,) = second["artifacts"]["examples"]["artifacts"]
    assert artifact["metadata"]["custom:span"] == 3  # recorded on the Examples artifact


def test_missing_data_root_is_an_error_naming_it(compiled_yaml, tmp_path):
    spec = _spec(compiled_yaml)
    with pytest.raises(Exception, match="span"):
        _run_driver(spec, tmp_path / "no-such-data", tmp_path / "run")
