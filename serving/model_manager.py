"""The versions of one model: watching the base path, loading, warming up, swapping, unloading.

TF Serving's behaviour, reproduced: the base path holds integer version directories and the
latest one is served ("latest" version policy, one version). A new version is loaded and warmed
up while the old one keeps serving; only then does it take traffic, and the old version is
unloaded once the requests that hold it have finished (availability-preserving policy). A version
that fails to load is reported in END state with its error and the old one keeps serving.
"""

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

import grpc
import tensorflow as tf

from serving.errors import ServingError, not_found
from serving.servable import LoadedVersion
from serving.tensor_codec import proto_to_array
from serving.warmup import WarmupError, read_warmup_requests
from vre_common import storage

log = logging.getLogger("vre.serving")

# The ModelVersionStatus.State names (get_model_status.proto).
START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclass
class VersionStatus:
    """What GetModelStatus reports for one version.

    Attributes:
        version: the integer version.
        state: one of START, LOADING, AVAILABLE, UNLOADING, END.
        error_code: a grpc.StatusCode (OK unless loading failed).
        error_message: why loading failed ('' otherwise).
    """

    version: int
    state: str
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


class _Entry:
    def __init__(self, version: int):
        self.status = VersionStatus(version, START)
        self.servable: LoadedVersion | None = None
        self.in_flight = 0
        self.fingerprint = None  # of the directory, when its load failed


def list_versions(base_path: str) -> dict[int, str]:
    """The integer version directories under a base path, {version: path}.

    The base path may be remote (gs://...: TF Serving's --model_base_path takes one too).
    """
    versions = {}
    for name in storage.listdir(base_path):
        path = storage.join(base_path, name)
        if name.isdigit() and storage.isdir(path):
            versions[int(name)] = path
    return versions


def _fingerprint(path: str):
    # A failed version is retried only when its files change (e.g. a copy finished), not on
    # every poll: loading a broken model over and over would starve the serving threads.
    stamps = []
    for root, _, files in tf.io.gfile.walk(path):
        for f in files:
            file_path = storage.join(root, f)
            try:
                st = tf.io.gfile.stat(file_path)
            except tf.errors.OpError:
                continue
            stamps.append((file_path[len(path) :], st.length, st.mtime_nsec))
    return tuple(sorted(stamps))


class ModelManager:
    """Serves the latest loadable version of one model from a base path.

    Args:
        model_name: the name clients address the model by.
        base_path: the folder of integer version directories (the Pusher's destination).
        poll_interval_s: how often the base path is scanned for new versions; <= 0 scans only
            when `poll_once()` is called.
        warmup: replay `assets.extra/tf_serving_warmup_requests` before a version is AVAILABLE.
        loader: builds a servable from (model_name, version, path); `LoadedVersion` by default.
    """

    def __init__(
        self,
        model_name: str,
        base_path: str,
        poll_interval_s: float = 1.0,
        warmup: bool = True,
        loader=LoadedVersion,
    ):
        self.model_name = model_name
        self.base_path = storage.absolute(base_path)
        self.poll_interval_s = poll_interval_s
        self.warmup = warmup
        self._loader = loader
        self._entries: dict[int, _Entry] = {}
        self._serving: int | None = None
        self._cond = threading.Condition()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        """Loads the latest version now (blocking), then watches the base path in a thread."""
        if not storage.isdir(self.base_path):
            raise FileNotFoundError(
                f"model base path {self.base_path!r} of model {self.model_name!r} does not exist"
            )
        self.poll_once()
        if self.poll_interval_s > 0:
            self._thread = threading.Thread(
                target=self._watch, name=f"watch-{self.model_name}", daemon=True
            )
            self._thread.start()

    def stop(self):
        """Stops watching; loaded versions stay in memory until the manager is dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _watch(self):
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.poll_once()
            except Exception:  # the watcher must survive anything the filesystem throws at it
                log.exception("model %s: polling %s failed", self.model_name, self.base_path)

    # -- the version policy ------------------------------------------------------------------

    def poll_once(self):
        """Scans the base path once and moves to the latest loadable version."""
        with self._poll_lock:
            try:
                versions = list_versions(self.base_path)
            except (OSError, tf.errors.OpError) as e:
                # TF Serving keeps serving what it has when the storage is unreachable.
                log.warning("model %s: cannot list %s: %s", self.model_name, self.base_path, e)
                return
            for version in sorted(versions, reverse=True):
                if version == self._serving:
                    return
                entry = self._entries.get(version)
                if entry is not None and entry.fingerprint == _fingerprint(versions[version]):
                    continue  # failed before and unchanged since: try an older one
                if self._load(version, versions[version]):
                    return
            if self._serving is not None and self._serving not in versions:
                self._unload(self._serving)  # its directory is gone and nothing replaces it

    def _load(self, version: int, path: str) -> bool:
        with self._cond:
            entry = self._entries[version] = _Entry(version)
            entry.status.state = LOADING
        log.info("model %s: loading version %d from %s", self.model_name, version, path)
        started = time.perf_counter()
        try:
            servable = self._loader(self.model_name, version, path)
            warmed = self._replay_warmup(servable) if self.warmup else 0
            servable.warmup_requests_replayed = warmed
        except Exception as e:  # any failure to load leaves the old version serving
            with self._cond:
                entry.status = VersionStatus(
                    version, END, grpc.StatusCode.UNKNOWN, f"{type(e).__name__}: {e}"
                )
                entry.fingerprint = _fingerprint(path)
            log.error("model %s: version %d failed to load: %s", self.model_name, version, e)
            return False
        with self._cond:
            old = self._serving
            entry.servable = servable
            entry.status.state = AVAILABLE
            self._serving = version
        log.info(
            "model %s: version %d AVAILABLE (%d warmup requests, %.1f s)",
            self.model_name, version, warmed, time.perf_counter() - started,
        )
        if old is not None:
            self._unload(old)
        return True

    def _replay_warmup(self, servable) -> int:
        requests = read_warmup_requests(servable.path)
        for i, request in enumerate(requests):
            inputs = {k: proto_to_array(k, v) for k, v in request.inputs.items()}
            try:
                servable.predict(inputs, request.model_spec.signature_name, request.output_filter)
            except ServingError as e:
                raise WarmupError(f"warmup request {i} failed: {e.code.name}: {e.message}") from e
        return len(requests)

    def _unload(self, version: int):
        with self._cond:
            entry = self._entries[version]
            entry.status.state = UNLOADING
            if self._serving == version:
                self._serving = None
            # Requests that hold this version finish on it; new ones already go elsewhere.
            self._cond.wait_for(lambda: entry.in_flight == 0)
            entry.servable = None
            entry.status.state = END
        log.info("model %s: version %d unloaded", self.model_name, version)

    # -- what the services use ---------------------------------------------------------------

    @contextlib.contextmanager
    def handle(self, version: int | None = None, label: str = ""):
        """Holds a loaded version for the length of a request.

        Args:
            version: a specific version, or None for the latest available one.
            label: a version label (not supported: labels need a model config file).

        Yields:
            The `LoadedVersion`; it is not unloaded before the block exits.
        """
        if label:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}"
            )
        with self._cond:
            wanted = self._serving if version is None else version
            entry = self._entries.get(wanted) if wanted is not None else None
            if entry is None or entry.status.state != AVAILABLE:
                what = (
                    f"Latest({self.model_name})"
                    if version is None
                    else f"Specific({self.model_name}, {version})"
                )
                raise not_found(f"Servable not found for request: {what}")
            entry.in_flight += 1
        try:
            yield entry.servable
        finally:
            with self._cond:
                entry.in_flight -= 1
                self._cond.notify_all()

    def statuses(self, version: int | None = None) -> list[VersionStatus]:
        """GetModelStatus's answer: one status per known version (newest first).

        Args:
            version: only this version (NOT_FOUND if it was never seen).
        """
        with self._cond:
            if version is not None:
                if version not in self._entries:
                    raise not_found(f"Could not find version {version} of model {self.model_name}")
                s = self._entries[version].status
                return [VersionStatus(s.version, s.state, s.error_code, s.error_message)]
            if not self._entries:
                raise not_found(f"Could not find any versions of model {self.model_name}")
            return [
                VersionStatus(e.status.version, e.status.state, e.status.error_code,
                              e.status.error_message)
                for _, e in sorted(self._entries.items(), reverse=True)
            ]

    @property
    def serving_version(self) -> int | None:
        """The version new requests go to (None before one is loaded)."""
        with self._cond:
            return self._serving
