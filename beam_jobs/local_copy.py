"""Local temp copies of files that may be remote (gs://, s3://...), read through Beam's FileSystems.

FFmpeg (PyAV) seeks around a video on each decoding pass and Keras opens `.h5` weights with
h5py, which only reads local files: a remote file is copied once into a local temp file, used,
and deleted. Local paths (and file:// URIs) are used in place, never copied.
"""

import contextlib
import os
import posixpath
import shutil
import tempfile

COPY_CHUNK_BYTES = 8 << 20


def is_remote(path):
    """True for URIs of non-local filesystems (gs://, s3://, hdfs://...), False for local paths."""
    path = str(path)
    return "://" in path and not path.startswith("file://")


def local_path(path):
    """The local path of a local path or a file:// URI."""
    return str(path).removeprefix("file://")


def copy_to_local(path, folder):
    """Copies the remote file `path` into `folder` (its base name kept); returns the local path.

    Raises:
      FileNotFoundError: `path` cannot be read; the message names it.
    """
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    target = os.path.join(folder, posixpath.basename(str(path).rstrip("/")) or "file")
    try:
        with FileSystems.open(str(path), compression_type=CompressionTypes.UNCOMPRESSED) as src:
            with open(target, "wb") as dst:  # a local temp file
                shutil.copyfileobj(src, dst, COPY_CHUNK_BYTES)
    except Exception as e:  # Beam wraps every filesystem's error in its own types
        raise FileNotFoundError(f"cannot read {path}: {e}") from e
    return target


@contextlib.contextmanager
def local_copy(path, prefix="vre-"):
    """A local path for `path`: the file itself when local, else a temp copy deleted on exit.

    Example:
      >>> with local_copy("gs://bucket/videos/clip.mp4") as local:
      ...     decode_video(local)
    """
    if not is_remote(path):
        yield local_path(path)
        return
    folder = tempfile.mkdtemp(prefix=prefix)
    try:
        yield copy_to_local(path, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def local_checkpoint(prefix, temp_prefix="vre-ckpt-"):
    """A local prefix for the TF checkpoint `prefix` (`.index` + `.data-*` files) that may be remote.

    TF reads gs:// checkpoints itself, but only on filesystems compiled into TF; copying through
    Beam's FileSystems reads the same URIs as every other path of the job.
    """
    if not is_remote(prefix):
        yield local_path(prefix)
        return
    from apache_beam.io.filesystems import FileSystems

    folder = tempfile.mkdtemp(prefix=temp_prefix)
    try:
        try:
            (result,) = FileSystems.match([str(prefix) + ".*"])
        except Exception as e:
            raise FileNotFoundError(f"cannot list checkpoint {prefix}: {e}") from e
        if not result.metadata_list:
            raise FileNotFoundError(f"no checkpoint files {prefix}.* found")
        for metadata in result.metadata_list:
            copy_to_local(metadata.path, folder)
        yield os.path.join(folder, posixpath.basename(str(prefix)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
