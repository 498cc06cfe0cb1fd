"""`vre pipeline submit|schedule` through the real `kfp` client against a recording KFP API.

No cluster exists here: the server in kfp_api_server.py answers like KFP's v2beta1 REST API and
records the requests, and these tests check what the client sent: the pipeline upload (the
compiled spec itself), the run and the recurring run with its cron trigger, and the parameters.
"""

import json
import pathlib
import socket

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow import runtime_parameters
from vre_cli.main import main

pytestmark = pytest.mark.slow  # needs the compiled pipeline (TFX import, once per session)


def _spec_of(content: bytes):
    return json_format.ParseDict(yaml.safe_load(content), pipeline_spec_pb2.PipelineSpec())


def _compiled_spec(path):
    with open(path, "rb") as f:
        return _spec_of(f.read())


def _vre(*argv):
    return main(["pipeline", *argv])


def _printed_result(capsys):
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_submit_uploads_the_spec_and_starts_a_run(kfp_server, compiled_yaml, capsys):
    code = _vre(
        "submit",
        "--host",
        kfp_server.url,
        "--package",
        compiled_yaml,
        "--experiment",
        "vre-nightly",
        "--run_name",
        "retrain now",
        "--data_root",
        "gs://other/data",
        "--serving_base",
        "gs://other/serving",
        "--pipeline_root",
        "gs://other/pipeline-root",
    )
    assert code == 0
    result = _printed_result(capsys)

    (upload,) = kfp_server.requests_to("POST", "/pipelines/upload")
    assert upload["query"]["name"] == "vre-msrvtt"
    uploaded = upload["form"]["uploadfile"]
    assert uploaded["filename"].endswith(".yaml")
    # The uploaded package is the compiled spec, unchanged.
    assert _spec_of(uploaded["content"]) == _compiled_spec(compiled_yaml)

    (experiment,) = kfp_server.requests_to("POST", "/experiments")
    assert experiment["json"]["display_name"] == "vre-nightly"

    (run,) = kfp_server.requests_to("POST", "/runs")
    body = run["json"]
    assert body["display_name"] == "retrain now"
    assert body["experiment_id"] == result["experiment_id"]
    assert body["pipeline_version_reference"] == {
        "pipeline_id": result["pipeline_id"],
        "pipeline_version_id": result["pipeline_version_id"],
    }
    assert "pipeline_spec" not in body  # the run refers to the uploaded version
    assert body["service_account"] == "vre-pipeline"
    assert body["runtime_config"]["pipeline_root"] == "gs://other/pipeline-root"
    parameters = body["runtime_config"]["parameters"]
    assert parameters[runtime_parameters.DATA_ROOT] == "gs://other/data"
    assert runtime_parameters.serving_base_of(parameters[runtime_parameters.PUSH_DESTINATION]) == (
        "gs://other/serving",
        "vre",
    )
    assert result["run_id"] in kfp_server.runs
    # The stored version is the uploaded spec; the run points at it.
    version = kfp_server.versions[result["pipeline_version_id"]]
    assert version["pipeline_id"] == result["pipeline_id"]


def test_schedule_creates_a_cron_recurring_run(kfp_server, compiled_yaml, capsys):
    code = _vre(
        "schedule",
        "--host",
        kfp_server.url,
        "--package",
        compiled_yaml,
        "--cron",
        "0 3 * * *",
        "--job_name",
        "vre nightly retraining",
        "--start_time",
        "2026-12-01T00:00:00Z",
    )
    assert code == 0
    result = _printed_result(capsys)
    assert len(kfp_server.requests_to("POST", "/pipelines/upload")) == 1
    (recurring,) = kfp_server.requests_to("POST", "/recurringruns")
    body = recurring["json"]
    # KFP's robfig/cron takes six fields: the five-field input gets second 0.
    assert body["trigger"] == {
        "cron_schedule": {"cron": "0 0 3 * * *", "start_time": "2026-12-01T00:00:00Z"}
    }
    assert body["mode"] == "ENABLE"
    assert int(body["max_concurrency"]) == 1  # retrainings never overlap
    assert body["no_catchup"] is True
    assert body["display_name"] == "vre nightly retraining"
    assert body["service_account"] == "vre-pipeline"
    assert (
        body["pipeline_version_reference"]["pipeline_version_id"] == (result["pipeline_version_id"])
    )
    # No parameter given: every run uses the spec's defaults (the config's data and serving base).
    assert body["runtime_config"]["parameters"] == {}
    assert "pipeline_root" not in body["runtime_config"]
    assert result["recurring_run_id"] in kfp_server.recurring_runs


def test_same_spec_is_uploaded_once_a_changed_one_becomes_a_version(
    kfp_server, compiled_yaml, tmp_path, capsys
):
    for _ in range(2):
        assert _vre("submit", "--host", kfp_server.url, "--package", compiled_yaml) == 0
    assert (
        _vre("schedule", "--host", kfp_server.url, "--package", compiled_yaml, "--cron", "@daily")
        == 0
    )
    assert len(kfp_server.requests_to("POST", "/pipelines/upload")) == 1
    assert not kfp_server.requests_to("POST", "/pipelines/upload_version")
    assert len(kfp_server.requests_to("POST", "/experiments")) == 1  # found by name afterwards
    first_version = {
        r["json"]["pipeline_version_reference"]["pipeline_version_id"]
        for r in kfp_server.requests_to("POST", "/runs")
    }
    assert len(first_version) == 1

    # A new image tag is a new spec: uploaded as a new version of the same pipeline.
    changed = tmp_path / "changed.yaml"
    changed.write_text(pathlib.Path(compiled_yaml).read_text().replace(":0.1.0", ":0.2.0"))
    assert _vre("submit", "--host", kfp_server.url, "--package", str(changed)) == 0
    (new_version,) = kfp_server.requests_to("POST", "/pipelines/upload_version")
    pipeline_id = next(iter(kfp_server.pipelines))
    assert new_version["query"]["pipelineid"] == pipeline_id
    assert new_version["query"]["name"].startswith("vre-msrvtt-")
    last_run = kfp_server.requests_to("POST", "/runs")[-1]["json"]
    assert last_run["pipeline_version_reference"]["pipeline_version_id"] not in first_version


def test_tfx_pipeline_job_json_is_submitted_as_its_spec(kfp_server, compiled_json, compiled_yaml):
    assert _vre("submit", "--host", kfp_server.url, "--package", compiled_json) == 0
    (upload,) = kfp_server.requests_to("POST", "/pipelines/upload")
    assert _spec_of(upload["form"]["uploadfile"]["content"]) == _compiled_spec(compiled_yaml)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["submit", "--param", "learning_rate=0.1"],
            "parameter(s) learning_rate are not inputs of pipeline 'vre-msrvtt'",
        ),
        (["schedule", "--cron", "0 3 * *"], "has 4 fields"),
        (["schedule", "--cron", "@daily", "--max_concurrency", "0"], "max concurrency"),
        (["schedule", "--cron", "@daily", "--start_time", "tomorrow"], "not an RFC 3339 time"),
        (["submit", "--serving_base", " "], "serving base must be a non-empty path"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    kfp_server, compiled_yaml, capsys, argv, message
):
    code = _vre(*argv, "--host", kfp_server.url, "--package", compiled_yaml)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not [r for r in kfp_server.requests if r["method"] == "POST"]


def test_bad_host_package_and_unreachable_server(compiled_yaml, tmp_path, capsys):
    assert _vre("submit", "--host", "localhost:8080", "--package", compiled_yaml) == 2
    assert "must be the KFP API URL" in capsys.readouterr().err
    assert (
        _vre("submit", "--host", "http://127.0.0.1:1", "--package", str(tmp_path / "missing.yaml"))
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    not_a_spec = tmp_path / "notes.yaml"
    not_a_spec.write_text("hello: world\n")
    assert _vre("submit", "--host", "http://127.0.0.1:1", "--package", str(not_a_spec)) == 2
    assert "is not a valid KFP pipeline spec" in capsys.readouterr().err

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _vre("submit", "--host", f"http://127.0.0.1:{port}", "--package", compiled_yaml) == 1
    assert f"cannot reach the KFP API at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_server_refusal_is_reported(kfp_server, compiled_yaml, capsys):
    """Another client creates the pipeline between our lookup and our upload: KFP answers 409,
    and the command exits 1 with the server's answer."""
    kfp_server.pipelines["pipeline-taken"] = {
        "pipeline_id": "pipeline-taken",
        "display_name": "vre-msrvtt",
    }
    kfp_server.hide_pipelines_from_listing = True  # the lookup happened before the creation
    assert _vre("submit", "--host", kfp_server.url, "--package", compiled_yaml) == 1
    err = capsys.readouterr().err
    assert f"the KFP API at {kfp_server.url} answered 409" in err
    assert "already exists" in err


def test_schedule_compiles_first_when_given_an_image(
    kfp_server, kubeflow_config, bucket_env, compiled_yaml, capsys
):
    """`--image` (and `--config`) instead of `--package`: compiled into a temporary package."""
    code = _vre(
        "schedule",
        "--host",
        kfp_server.url,
        "--image",
        "registry.example.com/vre/p:9",
        "--config",
        kubeflow_config,
        "--cron",
        "@every 12h",
    )
    assert code == 0
    (upload,) = kfp_server.requests_to("POST", "/pipelines/upload")
    uploaded = _spec_of(upload["form"]["uploadfile"]["content"])
    images = {
        e["container"]["image"]
        for e in json_format.MessageToDict(uploaded.deployment_spec)["executors"].values()
        if "container" in e
    }
    assert images == {"registry.example.com/vre/p:9"}
    (recurring,) = kfp_server.requests_to("POST", "/recurringruns")
    assert recurring["json"]["trigger"]["cron_schedule"]["cron"] == "@every 12h"

    both = _vre("submit", "--host", kfp_server.url, "--package", compiled_yaml, "--image", "x/y:1")
    assert both == 2
    assert "either --package or --image" in capsys.readouterr().err
