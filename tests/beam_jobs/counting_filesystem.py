"""A non-local Beam filesystem for tests: `vretest://KEY` is an object store kept in a folder.

It behaves like an object store (no directories, URIs with a scheme, so pathlib/open/os.path on
them fail), and it logs every `open` of an object, across processes, so tests can check that a
remote video is fetched once. Beam finds it by its scheme once this module is imported; the
folder is `$VRE_TEST_FS_ROOT` so that subprocesses (decoders, workers) see the same store.
"""

import os

from apache_beam.io.filesystem import FileMetadata, FileSystem
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "vretest"
ROOT_ENV = "VRE_TEST_FS_ROOT"
OPEN_LOG = ".opens.log"


def root():
    folder = os.environ.get(ROOT_ENV)
    if not folder:
        raise OSError(f"{SCHEME}:// needs ${ROOT_ENV} (the folder holding the store)")
    return folder


def _local(uri):
    prefix = f"{SCHEME}://"
    if not uri.startswith(prefix):
        raise ValueError(f"not a {prefix} URI: {uri}")
    return os.path.join(root(), uri[len(prefix) :])


def _uri(local):
    return f"{SCHEME}://" + os.path.relpath(local, root())


def opened_keys():
    """The URIs opened for reading so far, one entry per open, in order."""
    path = os.path.join(root(), OPEN_LOG)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


class CountingFileSystem(FileSystem):
    """`vretest://` objects stored under $VRE_TEST_FS_ROOT; every open is logged.

    Each operation maps the URIs to local paths and hands them to Beam's LocalFileSystem.
    """

    def __init__(self, pipeline_options):
        super().__init__(pipeline_options)
        self._local_fs = LocalFileSystem(pipeline_options)

    @classmethod
    def scheme(cls):
        return SCHEME

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/")] + [p.strip("/") for p in paths])

    def split(self, path):
        head, _, tail = path.rpartition("/")
        return head, tail

    def has_dirs(self):
        return False

    def mkdirs(self, path):
        pass  # an object store: folders exist implicitly

    def _list(self, dir_or_prefix):
        local = _local(dir_or_prefix)
        folder = os.path.dirname(local)
        for dirpath, _, files in os.walk(folder):
            for name in files:
                full = os.path.join(dirpath, name)
                if full.startswith(local) and name != OPEN_LOG:
                    yield FileMetadata(_uri(full), os.path.getsize(full), os.path.getmtime(full))

    def create(self, path, *args, **kwargs):
        os.makedirs(os.path.dirname(_local(path)), exist_ok=True)
        return self._local_fs.create(_local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        handle = self._local_fs.open(_local(path), *args, **kwargs)
        with open(os.path.join(root(), OPEN_LOG), "a") as log:
            log.write(path + "\n")
        return handle

    def _make_parents(self, destinations):
        for d in destinations:
            os.makedirs(os.path.dirname(_local(d)), exist_ok=True)

    def copy(self, sources, destinations):
        self._make_parents(destinations)
        return self._local_fs.copy([_local(s) for s in sources], [_local(d) for d in destinations])

    def rename(self, sources, destinations):
        self._make_parents(destinations)
        return self._local_fs.rename(
            [_local(s) for s in sources], [_local(d) for d in destinations]
        )

    def exists(self, path):
        return self._local_fs.exists(_local(path))

    def size(self, path):
        return self._local_fs.size(_local(path))

    def last_updated(self, path):
        return self._local_fs.last_updated(_local(path))

    def checksum(self, path):
        return self._local_fs.checksum(_local(path))

    def metadata(self, path):
        meta = self._local_fs.metadata(_local(path))
        return FileMetadata(path, meta.size_in_bytes, meta.last_updated_in_seconds)

    def delete(self, paths):
        return self._local_fs.delete([_local(p) for p in paths])

    def report_lineage(self, path, lineage, level=None):
        pass
