"""File operations on paths that may be remote (gs://..., or any other tf.io.gfile scheme).

Every data root, pipeline root, run directory, serving base, weights file and log folder in VRE
may live on object storage (Kubeflow, Vertex and Dataflow have no shared local disk), so these
helpers go through `tf.io.gfile`, never pathlib/open/os.path. Local paths take the same route
(tf.io.gfile handles them natively). Beam code keeps using Beam's FileSystems; this module is for
everything that runs TensorFlow anyway.

TensorFlow is imported inside the functions so that importing this module stays cheap.
"""

import contextlib
import json
import os
import posixpath
import tempfile

# Schemes whose paths are plain local files.
_LOCAL_SCHEMES = ("", "file")


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def scheme(path) -> str:
    """ "gs" for gs://b/x, "" for a local path."""
    path = str(path)
    return path.split("://", 1)[0] if "://" in path else ""


def is_remote(path) -> bool:
    """True for a path on a non-local filesystem (gs://, s3://, hdfs://, ...)."""
    return scheme(path) not in _LOCAL_SCHEMES


def join(base, *parts) -> str:
    """Joins path parts with "/" (URLs and POSIX paths alike; a string operation, no I/O)."""
    return posixpath.join(str(base), *(str(p) for p in parts))


def dirname(path) -> str:
    """The parent of `path` ("gs://b/x/y" -> "gs://b/x"); a string operation."""
    path = str(path).rstrip("/")
    if is_remote(path):
        head, _, _ = path.rpartition("/")
        return head if "://" in head and not head.endswith(":/") else path
    return os.path.dirname(path)


def basename(path) -> str:
    return str(path).rstrip("/").rpartition("/")[2]


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def absolute(path) -> str:
    """A local path made absolute; remote paths are returned unchanged."""
    path = str(path)
    if is_remote(path):
        return path
    return os.path.abspath(os.path.expanduser(_local(path)))


# The three checks answer local paths without importing TensorFlow (CLIs check their inputs
# before the slow imports); remote ones go through gfile.


def exists(path) -> bool:
    path = str(path)
    return _gfile().exists(path) if is_remote(path) else os.path.exists(_local(path))


def isdir(path) -> bool:
    path = str(path)
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(_local(path))


def isfile(path) -> bool:
    path = str(path)
    if not is_remote(path):
        return os.path.isfile(_local(path))
    gfile = _gfile()
    return gfile.exists(path) and not gfile.isdir(path)


def makedirs(path) -> str:
    """Creates `path` and its parents (no-op when it exists; object stores have no real folders,
    gfile writes a marker object)."""
    _gfile().makedirs(str(path))
    return str(path)


def listdir(path) -> list[str]:
    """Entry names in `path`, sorted, without a trailing "/" (gfile adds one to remote folders)."""
    return sorted(name.rstrip("/") for name in _gfile().listdir(str(path)))


def glob(pattern) -> list[str]:
    return sorted(_gfile().glob(str(pattern)))


def remove(path) -> None:
    _gfile().remove(str(path))


def rmtree(path, missing_ok=True) -> None:
    path = str(path)
    gfile = _gfile()
    if not gfile.exists(path):
        if missing_ok:
            return
        raise FileNotFoundError(path)
    gfile.rmtree(path)


def copy(source, destination, overwrite=True) -> None:
    _gfile().copy(str(source), str(destination), overwrite=overwrite)


def read_bytes(path) -> bytes:
    with _gfile().GFile(str(path), "rb") as f:
        return f.read()


def read_text(path) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path):
    return json.loads(read_text(path))


def write_bytes(path, data: bytes) -> str:
    """Writes `data` whole: to a sibling temporary name first, then renamed over `path`, so a
    reader never sees half a file (on object stores the upload is atomic at close anyway)."""
    path = str(path)
    gfile = _gfile()
    parent = dirname(path)
    if parent and not gfile.exists(parent):
        gfile.makedirs(parent)
    staging = f"{path}.tmp-{os.getpid()}"
    with gfile.GFile(staging, "wb") as f:
        f.write(data)
    gfile.rename(staging, path, overwrite=True)
    return path


def write_text(path, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, value, indent=2) -> str:
    return write_text(path, json.dumps(value, indent=indent) + "\n")


def copy_tree(source, destination) -> None:
    """Copies the folder `source` into `destination` (created), file by file, through gfile."""
    source, destination = str(source).rstrip("/"), str(destination).rstrip("/")
    gfile = _gfile()
    for folder, _, files in gfile.walk(source):
        relative = folder.rstrip("/")[len(source) :].lstrip("/")
        target = join(destination, relative) if relative else destination
        gfile.makedirs(target)
        for name in files:
            gfile.copy(join(folder, name), join(target, name), overwrite=True)


@contextlib.contextmanager
def local_copy(path, suffix=None):
    """Yields a local file path with the content of `path`.

    A local path is yielded as it is; a remote one is copied to a temporary file (same suffix, so
    libraries that pick a format by extension, such as Keras with `.h5`, still do) that is removed
    afterwards. For readers that only take local files: h5py (Keras `.h5` weights), PyAV, Java.
    """
    path = str(path)
    if not is_remote(path):
        yield _local(path)
        return
    if not exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    name = basename(path)
    if suffix is None:
        # ".weights.h5" and ".tar.gz" keep both parts: Keras checks the whole ending.
        suffix = name[name.index(".") :] if "." in name else ""
    with tempfile.TemporaryDirectory(prefix="vre_remote_") as folder:
        local = os.path.join(folder, f"copy{suffix}")
        _gfile().copy(path, local, overwrite=True)
        yield local


@contextlib.contextmanager
def local_staging_dir(destination):
    """Yields a local folder whose content is copied to `destination` on success.

    For writers that only write local files (matplotlib, some exporters). A local destination is
    yielded directly (created).
    """
    destination = str(destination)
    if not is_remote(destination):
        os.makedirs(absolute(destination), exist_ok=True)
        yield absolute(destination)
        return
    with tempfile.TemporaryDirectory(prefix="vre_stage_") as folder:
        yield folder
        copy_tree(folder, destination)
