"""Every path of the feature job on a non-local filesystem (`vretest://`, an object store that
logs its reads): manifest, videos, weights, outputs, dead letters and metadata; each remote video
is fetched once for its three decoding passes."""

import json
import shutil

import numpy as np
import pytest

from beam_jobs import vggish
from beam_jobs.local_copy import is_remote, local_checkpoint, local_copy
from beam_jobs.video_decoding import VideoDecodeError, decode_video
from tests.beam_jobs import counting_filesystem
from tests.beam_jobs.test_vggish import _write_slim_checkpoint
from vre_common import contract


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """An empty `vretest://` store; returns (folder, put(local file, key) -> URI)."""
    folder = tmp_path / "store"
    folder.mkdir()
    monkeypatch.setenv(counting_filesystem.ROOT_ENV, str(folder))

    def put(local, key):
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(local, target)
        return f"{counting_filesystem.SCHEME}://{key}"

    return folder, put


def test_local_paths_are_used_in_place(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x")
    assert not is_remote(str(path)) and not is_remote(f"file://{path}")
    assert is_remote("gs://bucket/a.bin")
    with local_copy(f"file://{path}") as local:
        assert local == str(path)


def test_remote_file_is_copied_once_and_removed(store):
    folder, put = store
    (folder.parent / "w.bin").write_bytes(b"weights" * 1000)
    uri = put(folder.parent / "w.bin", "models/w.bin")
    with local_copy(uri) as local:
        assert open(local, "rb").read() == b"weights" * 1000
        assert local.endswith("/w.bin")
    assert not __import__("os").path.exists(local)
    assert counting_filesystem.opened_keys() == [uri]
    with pytest.raises(FileNotFoundError, match="vretest://models/absent.bin"):
        with local_copy("vretest://models/absent.bin"):
            pass


def test_remote_video_decodes_like_the_local_file_from_one_fetch(store, samples):
    _, put = store
    local = samples["bigbuckbunny"]["path"]
    uri = put(local, "videos/bunny.mp4")
    remote = decode_video(uri)
    direct = decode_video(local)
    assert remote.path == uri
    np.testing.assert_array_equal(remote.frames, direct.frames)
    np.testing.assert_array_equal(remote.audio, direct.audio)
    assert counting_filesystem.opened_keys() == [uri]  # three passes, one fetch
    with pytest.raises(VideoDecodeError, match="cannot open video vretest://videos/none.mp4"):
        decode_video("vretest://videos/none.mp4")


@pytest.mark.slow
def test_remote_vggish_weights_and_checkpoint(store, tmp_path):
    import keras
    import tensorflow as tf

    _, put = store
    keras.utils.set_random_seed(3)
    source = vggish.build_vggish()
    source.save_weights(tmp_path / "v.weights.h5")
    uri = put(tmp_path / "v.weights.h5", "models/v.weights.h5")
    target = vggish.load_vggish_weights(vggish.build_vggish(), uri)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The TF-Slim checkpoint layout (`.index` + `.data-*`), copied file by file.
    ckpt_dir = tmp_path / "ckpt"
    ckpt_dir.mkdir()
    _write_slim_checkpoint(source, ckpt_dir / "vggish_model.ckpt")
    for path in ckpt_dir.iterdir():
        if path.name.startswith("vggish_model.ckpt."):
            put(path, f"models/{path.name}")
    with local_checkpoint("vretest://models/vggish_model.ckpt") as local:
        assert tf.train.load_checkpoint(local).has_tensor("vggish/fc2/weights")
    target = vggish.load_vggish_weights(vggish.build_vggish(), "vretest://models/vggish_model.ckpt")
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _read_ids(folder):
    import tensorflow as tf

    files = [str(p) for p in folder.glob("part-*.tfrecord.gz")]
    spec = {contract.VIDEO_ID: tf.io.FixedLenFeature([], tf.string)}
    return [
        tf.io.parse_single_example(raw, spec)[contract.VIDEO_ID].numpy().decode()
        for raw in tf.data.TFRecordDataset(files, compression_type="GZIP")
    ]


@pytest.mark.slow
@pytest.mark.e2e
def test_feature_job_with_every_path_remote(store, samples, tmp_path):
    from beam_jobs import feature_job

    folder, put = store
    car = put(samples["carphone_distorted"]["path"], "lists/videos/car.mp4")
    bunny = put(samples["bigbuckbunny"]["path"], "videos/bunny.mp4")
    lines = [  # a path relative to the manifest's folder, an absolute URI, a missing video
        {"id": "car", "path": "videos/car.mp4", "split": "train", "captions": ["a man"]},
        {"id": "bunny", "path": bunny, "split": "test", "captions": ["a rabbit"]},
        {"id": "gone", "path": "videos/gone.mp4", "split": "validation"},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    manifest = put(tmp_path / "m.jsonl", "lists/m.jsonl")
    output = "vretest://features/span-1"
    metadata = feature_job.run_feature_job(
        manifest,
        output,
        allow_random_weights=True,
        max_failure_ratio=0.5,
        pipeline_args=["--direct_running_mode=in_memory"],
    )
    assert metadata["videos_ok"] == 2 and metadata["videos_failed"] == 1
    assert metadata["settings"]["manifest"] == manifest
    written = folder / "features" / "span-1"
    assert sorted(p.name for p in written.iterdir()) == [
        "dead_letter.jsonl",
        "metadata.json",
        "test",
        "train",
        "validation",
    ]
    assert _read_ids(written / "train") == ["car"] and _read_ids(written / "test") == ["bunny"]
    letter = json.loads((written / "dead_letter.jsonl").read_text())
    assert letter["id"] == "gone" and letter["path"] == "vretest://lists/videos/gone.mp4"
    opens = counting_filesystem.opened_keys()
    assert opens.count(car) == 1 and opens.count(bunny) == 1  # one fetch per video
