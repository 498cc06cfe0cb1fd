"""`vre spans build`: span N+1 = span N's records + the new batch's, byte for byte, on real
gzip TFRecord files of Contract-1 examples (TF only, no TFX)."""

import json
import os

import pytest

from vre_cli.main import main

SPAN1 = {
    "train": {"v0": ["a man rides a bike"], "v1": ["a cat sleeps"]},
    "validation": {"v2": ["a dog runs"]},
    "test": {"v3": ["a girl sings"]},
}
NEW = {"train": {"v4": ["two dogs play"]}, "test": {"v5": ["a woman cooks"]}}


def _write_batch(folder, videos, seed):
    from vre_keras.config import ModelConfig
    from vre_keras.synthetic_data import write_synthetic_records

    for split, captions in videos.items():
        write_synthetic_records(
            os.path.join(folder, split, "part-00000-of-00001.tfrecord.gz"),
            captions, ModelConfig.tiny(), seed=seed, split=split,
        )


def _records(folder, split):
    import tensorflow as tf

    split_dir = os.path.join(folder, split)
    files = sorted(os.path.join(split_dir, f) for f in os.listdir(split_dir))
    return sorted(r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def test_build_copies_previous_span_and_new_videos_and_refuses_duplicates(tmp_path, capsys):
    data, new = tmp_path / "data", tmp_path / "new"
    _write_batch(data / "span-1", SPAN1, seed=1)  # as the feature job writes it: no index
    _write_batch(new, NEW, seed=2)

    assert main(["spans", "build", "--data_root", str(data), "--new", str(new)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"span": 2, "previous_span": 1,
                       "videos": {"train": 3, "validation": 1, "test": 2},
                       "new_videos": {"train": 1, "validation": 0, "test": 1}}

    span2 = data / "span-2"
    for split in ("train", "validation", "test"):
        expected = _records(data / "span-1", split)
        if (new / split).is_dir():
            expected = sorted(expected + _records(new, split))
        assert _records(span2, split) == expected  # every record, unchanged
    index = json.loads((span2 / "video_ids.json").read_text())
    assert index == {"train": ["v0", "v1", "v4"], "validation": ["v2"], "test": ["v3", "v5"]}
    # The shards are copies of the sources, byte for byte.
    build = json.loads((span2 / "span_build.json").read_text())
    for copy in build["files"]:
        with open(copy["from"], "rb") as a, open(copy["to"], "rb") as b:
            assert a.read() == b.read()

    # A batch repeating a video already in the dataset is refused; no span-3 is left behind.
    again = tmp_path / "again"
    _write_batch(again, {"validation": {"v6": ["x"], "v4": ["y"]}}, seed=3)
    assert main(["spans", "build", "--data_root", str(data), "--new", str(again)]) == 2
    err = capsys.readouterr().err
    assert "video 'v4'" in err and "already in" in err and str(span2) in err
    assert not (data / "span-3").exists()


def test_bad_inputs_are_named(tmp_path, capsys):
    data, new = tmp_path / "data", tmp_path / "new"
    _write_batch(data / "span-1", SPAN1, seed=1)

    assert main(["spans", "build", "--data_root", str(data), "--new", str(new)]) == 2
    assert f"{new} holds no record files" in capsys.readouterr().err

    _write_batch(new, NEW, seed=2)
    assert main(["spans", "build", "--data_root", str(data), "--new", str(new),
                 "--span", "1"]) == 2
    assert "span-1 already exists" in capsys.readouterr().err

    bad = new / "train" / "part-00001-of-00001.tfrecord.gz"
    bad.write_bytes(b"this is not gzip")
    assert main(["spans", "build", "--data_root", str(data), "--new", str(new)]) == 2
    assert f"TFRecord shard {bad} is truncated or corrupt" in capsys.readouterr().err
    assert not (data / "span-2").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_read_shard_names_a_damaged_file(tmp_path, damage):
    from tfx_pipeline.shard_reading import CorruptShardError, read_shard

    _write_batch(tmp_path, {"train": {f"v{i}": ["a b"] for i in range(6)}}, seed=0)
    path = tmp_path / "train" / "part-00000-of-00001.tfrecord.gz"
    data = path.read_bytes()
    assert len(list(read_shard(str(path)))) == 6
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 50)
    with pytest.raises(CorruptShardError, match=f"TFRecord shard {path} is truncated or corrupt"):
        list(read_shard(str(path)))
