"""The run-time parameters: the push destination value, its parsing, and parameterizing a
pipeline that lacks what is replaced."""

import json

import pytest

from kubeflow.runtime_parameters import push_destination_json, serving_base_of


def test_push_destination_round_trip():
    value = push_destination_json("gs://bucket/vre/serving/", "vre")
    assert json.loads(value) == {"filesystem": {"baseDirectory": "gs://bucket/vre/serving/vre"}}
    assert serving_base_of(value) == ("gs://bucket/vre/serving", "vre")
    # TFX keeps the proto as JSON with proto field names: both spellings are read.
    tfx_form = '{"filesystem": {"base_directory": "/srv/models/vre/"}}'
    assert serving_base_of(tfx_form) == ("/srv/models", "vre")


@pytest.mark.parametrize(
    "base, model, message",
    [
        ("", "vre", "serving base must be a non-empty"),
        ("gs://b/serving", "", "model name ''"),
        ("gs://b/serving", "a/b", "model name 'a/b'"),
    ],
)
def test_push_destination_refuses_bad_parts(base, model, message):
    with pytest.raises(ValueError, match=message):
        push_destination_json(base, model)


@pytest.mark.parametrize("value", ["not json", '{"other": {}}', '{"filesystem": "x"}', "[]"])
def test_serving_base_of_names_a_bad_value(value):
    with pytest.raises(ValueError, match="is not a filesystem PushDestination JSON"):
        serving_base_of(value)


@pytest.mark.slow
def test_parameterize_needs_one_example_gen_and_one_pusher(tmp_path):
    """A pipeline without a Pusher cannot be compiled for Kubeflow: the error names the gap."""
    from tfx import v1 as tfx

    from kubeflow.compiler import compile_pipeline
    from tests.kubeflow.conftest import IMAGE

    example_gen = tfx.components.ImportExampleGen(input_base=str(tmp_path / "data"))
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="no-pusher", pipeline_root=str(tmp_path / "root"), components=[example_gen]
    )
    with pytest.raises(ValueError, match="exactly one Pusher .*found none"):
        compile_pipeline(pipeline, IMAGE, str(tmp_path / "p.yaml"))
    assert not (tmp_path / "p.yaml").exists()
