"""The feature job on Beam's PortableRunner: submitted as a pipeline proto over the Job API to a
job server in its own process, run by SDK worker processes that the job server starts. Its
examples and dead letters must equal the DirectRunner's on the same inputs.

The job server is Beam's Python one (`local_job_service_main`, bound to localhost); its workers
are the `harness_subprocess_python` environment: `python -m apache_beam.runners.worker.
sdk_worker_main` processes, the same SDK harness as Beam's worker containers. No Java, no Docker
and no network beyond loopback is needed. (Why not the Dask runner: docs/feature_extraction.md.)
"""

import json
import os
import subprocess
import sys
import time

import pytest

from beam_jobs import feature_job
from beam_jobs.video_record import VideoRecord
from vre_common import contract

SUBPROCESS_SDK = "beam:env:harness_subprocess_python:v1"


@pytest.fixture(scope="module")
def job_server(tmp_path_factory):
    """The port of a Beam job server process on localhost; stopped after the module."""
    folder = tmp_path_factory.mktemp("job_server")
    port_file = folder / "port"
    log = open(folder / "job_server.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            "--port=0",  # any free port; the server binds localhost only
            f"--port_file={port_file}",
            f"--staging_dir={folder / 'staging'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the job server did not start: {(folder / 'job_server.log').read_text()}"
                )
            time.sleep(0.5)
        yield int(port_file.read_text())
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def _outputs(output_dir):
    """({video id: serialized Example}, sorted dead letters, metadata without the runner)."""
    import tensorflow as tf

    examples = {}
    for split in contract.SPLITS:
        files = sorted(str(p) for p in (output_dir / split).glob("part-*.tfrecord.gz"))
        for raw in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(raw.numpy())
            video_id = example.features.feature[contract.VIDEO_ID].bytes_list.value[0].decode()
            examples[video_id] = example
    letters = sorted(
        (json.loads(line) for line in (output_dir / "dead_letter.jsonl").read_text().splitlines()),
        key=lambda d: d["id"],
    )
    metadata = json.loads((output_dir / "metadata.json").read_text())
    metadata["settings"].pop("runner")
    return examples, letters, metadata


@pytest.mark.slow
@pytest.mark.e2e
def test_portable_runner_writes_what_the_direct_runner_writes(
    job_server, tmp_path, samples, broken_files
):
    records = [
        VideoRecord("car_a", samples["carphone_distorted"]["path"], "train", ("a man talks",)),
        VideoRecord("car_b", samples["carphone_pristine"]["path"], "test", ("a phone call",)),
        VideoRecord("missing", str(broken_files["missing"]), "validation"),
        VideoRecord("not_video", str(broken_files["not_video"]), "train"),
    ]
    manifest = tmp_path / "videos.jsonl"
    manifest.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    common = {"allow_random_weights": True, "use_audio": False, "max_failure_ratio": 1.0}
    direct_out = tmp_path / "direct"
    feature_job.run_feature_job(
        str(manifest),
        str(direct_out),
        pipeline_args=["--direct_running_mode=in_memory"],
        **common,
    )
    portable_out = tmp_path / "portable"
    metadata = feature_job.run_feature_job(
        str(manifest),
        str(portable_out),
        pipeline_args=[
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_server}",
            f"--environment_type={SUBPROCESS_SDK}",
            f"--environment_config={sys.executable} -m apache_beam.runners.worker.sdk_worker_main",
            # The client's job-state stream ends at this deadline, however long the job runs.
            "--job_server_timeout=3600",
        ],
        **common,
    )
    assert metadata["settings"]["runner"] == "PortableRunner"
    portable, direct = _outputs(portable_out), _outputs(direct_out)
    assert sorted(portable[0]) == sorted(direct[0]) == ["car_a", "car_b"]
    for video_id, example in direct[0].items():
        got = portable[0][video_id].features.feature
        for name, feature in example.features.feature.items():
            if feature.HasField("float_list"):
                assert got[name].float_list.value == pytest.approx(
                    feature.float_list.value, rel=1e-5, abs=1e-5
                ), (video_id, name)
            else:
                assert got[name] == feature, (video_id, name)
    assert portable[1] == direct[1]
    assert [d["id"] for d in portable[1]] == ["missing", "not_video"]
    assert portable[2] == direct[2]
    assert os.path.exists(portable_out / "train")
