"""vre_common.storage on a non-local filesystem: TF's in-process `ram://` (fast; the gs:// path
through a GCS-protocol server is proven end to end in
tests/remote_storage/test_remote_storage_e2e.py)."""

import os
import uuid

import pytest

from vre_common import storage


@pytest.fixture
def remote_root():
    root = f"ram://vre-test-{uuid.uuid4().hex[:8]}"
    yield root
    storage.rmtree(root)


def test_paths_are_strings_and_schemes_are_told_apart():
    assert storage.is_remote("gs://b/x") and storage.is_remote("ram://b")
    assert not storage.is_remote("/tmp/x") and not storage.is_remote("file:///tmp/x")
    assert storage.join("gs://b", "run", "x.json") == "gs://b/run/x.json"
    assert storage.dirname("gs://b/run/x.json") == "gs://b/run"
    assert storage.basename("gs://b/run/") == "run"
    assert storage.absolute("gs://b/x") == "gs://b/x"
    assert storage.absolute("file:///tmp/x") == "/tmp/x"


def test_write_read_list_and_remove_on_a_remote_filesystem(remote_root):
    path = storage.join(remote_root, "a", "b", "progress.json")
    storage.write_json(path, {"phase": 2})
    assert storage.read_json(path) == {"phase": 2}
    assert storage.isfile(path) and not storage.isdir(path)
    assert storage.isdir(storage.join(remote_root, "a", "b"))
    # the staging name of the whole-file write is gone
    assert storage.listdir(storage.join(remote_root, "a", "b")) == ["progress.json"]
    storage.write_text(path, "second")
    assert storage.read_text(path) == "second"
    assert storage.glob(storage.join(remote_root, "*", "*", "*.json")) == [path]
    storage.rmtree(storage.join(remote_root, "a"))
    assert not storage.exists(path)
    storage.rmtree(storage.join(remote_root, "a"))  # missing is fine by default
    with pytest.raises(FileNotFoundError):
        storage.rmtree(storage.join(remote_root, "a"), missing_ok=False)


def test_local_copy_of_a_remote_file_keeps_the_suffix_and_is_removed(remote_root):
    path = storage.join(remote_root, "w", "resnet.weights.h5")
    storage.write_bytes(path, b"\x89HDF")
    with storage.local_copy(path) as local:
        assert not storage.is_remote(local) and local.endswith(".weights.h5")
        with open(local, "rb") as f:
            assert f.read() == b"\x89HDF"
    assert not os.path.exists(local)
    with pytest.raises(FileNotFoundError, match="missing.h5 does not exist"):
        with storage.local_copy(storage.join(remote_root, "missing.h5")):
            pass


def test_local_copy_of_a_local_file_is_the_file_itself(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"1")
    with storage.local_copy(f"file://{path}") as local:
        assert local == str(path)


def test_copy_tree_and_staging_dir_upload_a_folder(remote_root, tmp_path):
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "f.txt").write_text("f")
    (tmp_path / "src" / "g.txt").write_text("g")
    storage.copy_tree(tmp_path / "src", storage.join(remote_root, "dst"))
    assert storage.read_text(storage.join(remote_root, "dst", "sub", "f.txt")) == "f"
    with storage.local_staging_dir(storage.join(remote_root, "staged")) as folder:
        with open(os.path.join(folder, "h.txt"), "w") as f:
            f.write("h")
    assert storage.read_text(storage.join(remote_root, "staged", "h.txt")) == "h"


def test_vocabulary_round_trip_on_a_remote_filesystem(remote_root):
    from vre_keras.vocabulary import Vocabulary

    vocabulary = Vocabulary.build(["a man rides a bike", "a man runs"], min_count=1)
    path = vocabulary.save(storage.join(remote_root, "run", "vocabulary.txt"))
    assert Vocabulary.load(path).tokens == vocabulary.tokens
    with pytest.raises(FileNotFoundError, match="vocabulary file not found"):
        Vocabulary.load(storage.join(remote_root, "run", "missing.txt"))
