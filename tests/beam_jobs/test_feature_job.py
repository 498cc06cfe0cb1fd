"""The Beam job end to end on the real sample videos plus broken files (in-process runner)."""

import json
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from beam_jobs import feature_job
from beam_jobs.video_record import VideoRecord
from tests.beam_jobs import misbehaving_decoder
from vre_common import contract

BROKEN_SPLITS = {
    "empty": "train",
    "not_video": "test",
    "truncated": "validation",
    "audio_only": "train",
    "missing": "test",
}


def _read_split(folder):
    import tensorflow as tf

    files = sorted(str(p) for p in folder.glob("part-*-of-*.tfrecord.gz"))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    spec = contract.feature_spec()
    return [tf.io.parse_single_example(raw, spec) for raw in dataset]


@pytest.fixture(scope="module")
def job(tmp_path_factory, sample_records, broken_files):
    output = tmp_path_factory.mktemp("features")
    records = list(sample_records)
    records += [
        VideoRecord(name, str(path), BROKEN_SPLITS[name]) for name, path in broken_files.items()
    ]
    records.append(VideoRecord("bikes", sample_records[1].path + "?copy", "train"))  # repeat id
    metadata = feature_job.run_feature_job(
        records,
        str(output),
        allow_random_weights=True,
        max_failure_ratio=1.0,
        pipeline_args=["--direct_running_mode=in_memory"],
    )
    return output, metadata


@pytest.mark.slow
@pytest.mark.e2e
def test_every_good_video_lands_once_in_its_split(job, sample_records):
    output, _ = job
    by_id = {r.video_id: r for r in sample_records}
    seen = []
    for split in contract.SPLITS:
        for example in _read_split(output / split):
            video_id = example[contract.VIDEO_ID].numpy().decode()
            assert example[contract.SPLIT].numpy().decode() == split == by_id[video_id].split
            assert example[contract.TEMPORAL].shape == (contract.NUM_FRAMES * 2048,)
            seen.append(video_id)
    assert sorted(seen) == sorted(by_id)  # each good video exactly once
    train = {e[contract.VIDEO_ID].numpy().decode(): e for e in _read_split(output / "train")}
    bunny = train["bigbuckbunny"]
    assert [c.decode() for c in bunny[contract.CAPTIONS].values.numpy()] == list(
        by_id["bigbuckbunny"].captions
    )
    assert int(bunny[contract.HAS_AUDIO]) == 1 and int(train["bikes"][contract.HAS_AUDIO]) == 0
    assert int(bunny[contract.NUM_SOURCE_FRAMES]) == 132
    assert float(train["bikes"][contract.DURATION_S]) == pytest.approx(10.0)


@pytest.mark.slow
@pytest.mark.e2e
def test_job_features_equal_a_direct_call_on_the_same_frames(job, direct_features):
    output, _ = job
    written = {e[contract.VIDEO_ID].numpy().decode(): e for e in _read_split(output / "train")}
    for video_id in ("bigbuckbunny", "bikes"):
        _, direct = direct_features[video_id]
        example = written[video_id]
        for name in (contract.TEMPORAL, contract.SPATIAL, contract.AUDIO):
            expected = direct[name].reshape(-1)
            scale = max(np.abs(expected).max(), 1e-6)
            np.testing.assert_allclose(
                example[name].numpy(),
                expected,
                rtol=1e-5,
                atol=1e-5 * scale,
                err_msg=f"{video_id} {name}",
            )


@pytest.mark.slow
@pytest.mark.e2e
def test_every_bad_video_is_a_dead_letter_with_a_reason(job, broken_files):
    output, _ = job
    letters = [json.loads(line) for line in (output / "dead_letter.jsonl").read_text().splitlines()]
    by_id = {}
    for letter in letters:
        assert set(letter) == {"id", "path", "stage", "error"}
        by_id.setdefault(letter["id"], []).append(letter)
    assert sorted(by_id) == sorted(list(broken_files) + ["bikes"])
    for name, path in broken_files.items():
        (letter,) = by_id[name]
        assert letter["stage"] == "decode" and letter["path"] == str(path)
        assert str(path) in letter["error"] and "VideoDecodeError" in letter["error"]
    assert "no video stream" in by_id["audio_only"][0]["error"]
    (repeat,) = by_id["bikes"]
    assert repeat["stage"] == "input" and "duplicate video id" in repeat["error"]


@pytest.mark.slow
@pytest.mark.e2e
def test_metadata_counts_and_weights(job, extractor):
    output, metadata = job
    assert json.loads((output / "metadata.json").read_text()) == metadata
    assert metadata["videos_ok"] == 4 and metadata["videos_failed"] == 6
    assert metadata["videos_no_audio"] == 3
    assert metadata["per_split"] == {"train": 2, "validation": 1, "test": 1}
    assert metadata["failed_per_stage"] == {"decode": 5, "input": 1}
    assert metadata["weights"]["cnn"] == "random(seed=20190000)"
    (model,) = metadata["models"]
    described = extractor.describe_weights()
    assert model["cnn_fingerprint"] == described["cnn_fingerprint"]
    assert model["vggish_fingerprint"] == described["vggish_fingerprint"]
    with pytest.raises(feature_job.FailureRatioExceededError, match="6 of 10 videos failed"):
        feature_job.check_failure_ratio(metadata, 0.5, str(output))


@pytest.mark.slow
def test_decoder_crash_and_hang_become_dead_letters(tmp_path, samples):
    good = samples["carphone_distorted"]["path"]
    records = [
        VideoRecord("good", good, "train"),
        VideoRecord("crash", str(tmp_path / "crash.mp4"), "train"),
        VideoRecord("hang", str(tmp_path / "hang.mp4"), "train"),
        VideoRecord("after", good, "test"),
    ]
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        decoded, letters = (
            pipeline
            | beam.Create(records)
            | feature_job.DecodeVideos(
                timeout_s=5, decode_fn=misbehaving_decoder.decode_or_misbehave
            )
        )
        ok_ids = decoded | "OkIds" >> beam.Map(lambda kv: (kv[0].video_id, kv[1].frames.shape))
        assert_that(
            ok_ids,
            equal_to([("good", (20, 224, 224, 3)), ("after", (20, 224, 224, 3))]),
            label="CheckDecoded",
        )
        reasons = letters | beam.Map(
            lambda d: (
                d["id"],
                d["stage"],
                "BrokenProcessPool" in d["error"] or "Timeout" in d["error"],
            )
        )
        assert_that(
            reasons,
            equal_to([("crash", "decode", True), ("hang", "decode", True)]),
            label="CheckLetters",
        )


def test_job_refuses_without_weights(tmp_path, sample_records):
    with pytest.raises(feature_job.MissingWeightsError, match="--allow_random_weights"):
        feature_job.run_feature_job(sample_records, str(tmp_path))
    with pytest.raises(ValueError, match="no videos"):
        feature_job.run_feature_job([], str(tmp_path), allow_random_weights=True)
    with pytest.raises(ValueError, match="--cnn_weights .*resnet.h5: no such file"):
        feature_job.run_feature_job(
            sample_records, str(tmp_path), cnn_weights=str(tmp_path / "resnet.h5"), use_audio=False
        )
    with pytest.raises(ValueError, match="--vggish_weights .*vggish_model.ckpt: no such file"):
        feature_job.run_feature_job(
            sample_records,
            str(tmp_path),
            cnn_weights="imagenet",
            vggish_weights=str(tmp_path / "vggish_model.ckpt"),
        )


@pytest.mark.slow
@pytest.mark.e2e
def test_vre_extract_cli_in_worker_processes(tmp_path, samples, direct_features, project_root):
    """`vre extract` on a manifest, models built in a Beam worker process: the same weights."""
    manifest = tmp_path / "videos.jsonl"
    manifest.write_text(
        json.dumps(
            {
                "id": "car",
                "path": samples["carphone_distorted"]["path"],
                "split": "test",
                "captions": ["a man talks on a phone"],
            }
        )
        + "\n"
        + json.dumps({"id": "bad", "path": "nowhere.mp4", "split": "train"})
        + "\n"
    )
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "vre_cli",
        "extract",
        "--dataset",
        "manifest",
        "--manifest",
        str(manifest),
        "--output_dir",
        str(out),
        "--allow_random_weights",
        "--no_audio",
        "--max_failure_ratio",
        "0.5",
        "--",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=1",
    ]
    result = subprocess.run(
        cmd, cwd=project_root, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 of 2 videos written" in result.stdout
    assert "RANDOM WEIGHTS" in result.stderr and "videos/s" in result.stderr
    (example,) = _read_split(out / "test")
    # Splits without videos still get a (valid, empty) shard, so that ExampleGen finds them.
    assert _read_split(out / "train") == [] and _read_split(out / "validation") == []
    assert list((out / "train").glob("part-*-of-*.tfrecord.gz"))
    _, direct = direct_features["carphone_distorted"]
    expected = direct[contract.TEMPORAL].reshape(-1)
    np.testing.assert_allclose(
        example[contract.TEMPORAL].numpy(), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )
    assert int(example[contract.HAS_AUDIO]) == 0
    letter = json.loads((out / "dead_letter.jsonl").read_text())
    assert letter["id"] == "bad" and "does not exist" in letter["error"]


def test_vre_extract_cli_rejects_missing_weights(tmp_path, capsys):
    from vre_cli.main import main

    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a", "path": "a.mp4", "split": "train"}) + "\n")
    code = main(
        [
            "extract",
            "--dataset",
            "manifest",
            "--manifest",
            str(manifest),
            "--output_dir",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    assert "--allow_random_weights" in capsys.readouterr().err
