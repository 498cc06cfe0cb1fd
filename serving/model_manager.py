"""The versions of one model: watching the base path, loading, warming up, swapping, unloading.

TF Serving's behaviour, reproduced: the base path holds integer version directories and the
version policy (latest N, all, specific; latest 1 by default) picks the ones to serve. New
versions are loaded and warmed up while the old ones keep serving; a version the policy no longer
wants is unloaded only once an aspired version is AVAILABLE (AvailabilityPreservingPolicy), and
once the requests that hold it have finished. A load that fails is retried
`max_num_load_retries` times, `load_retry_interval_s` apart; a version that still fails is
reported END with its error and the others keep serving.

The base path may be remote (gs://...): it is listed and read through tf.io.gfile.
"""

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

import grpc
import tensorflow as tf

from serving.errors import ServingError, invalid_argument, not_found
from serving.model_config import VersionPolicy, aspired_versions, describe_policy
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
        name = name.rstrip("/")
        path = storage.join(base_path, name)
        if name.isdigit() and storage.isdir(path):
            versions[int(name)] = path
    return versions


def _fingerprint(path: str):
    # A failed version is retried only when its files change (e.g. a copy finished), not on
    # every poll: loading a broken model over and over would starve the serving threads.
    stamps = []
    try:
        for root, _, files in tf.io.gfile.walk(path):
            for f in files:
                full = storage.join(root, f)
                try:
                    st = tf.io.gfile.stat(full)
                except tf.errors.OpError:
                    continue
                stamps.append((full[len(path) :], st.length, st.mtime_nsec))
    except tf.errors.OpError:
        pass
    return tuple(sorted(stamps))


class ModelManager:
    """Serves the versions of one model that its version policy picks from a base path.

    Args:
        model_name: the name clients address the model by.
        base_path: the folder of integer version directories (local or gs://...).
        poll_interval_s: how often the base path is scanned for new versions; <= 0 scans only
            when `poll_once()` is called.
        warmup: replay `assets.extra/tf_serving_warmup_requests` before a version is AVAILABLE.
        loader: builds a servable from (model_name, version, path); `LoadedVersion` by default.
        version_policy: a ServableVersionPolicy proto (None: latest 1, TF Serving's default).
        max_num_load_retries: further attempts after a failed load (TF Serving's flag; 0 here).
        load_retry_interval_s: seconds between those attempts.
        warmup_iterations: how many times each warmup record is replayed.
        on_change: called with (model_name, version, state) after every state change.
        metrics: a ServingMetrics to report loads and warmups to (optional).
        tags: the meta graph tags to load (`--saved_model_tags`).
    """

    def __init__(
        self,
        model_name: str,
        base_path: str,
        poll_interval_s: float = 1.0,
        warmup: bool = True,
        loader=LoadedVersion,
        version_policy: VersionPolicy | None = None,
        max_num_load_retries: int = 0,
        load_retry_interval_s: float = 0.0,
        warmup_iterations: int = 1,
        on_change=None,
        metrics=None,
        tags=None,
    ):
        self.model_name = model_name
        self.base_path = storage.absolute(base_path).rstrip("/")
        self.poll_interval_s = poll_interval_s
        self.warmup = warmup
        self.version_policy = version_policy or VersionPolicy()
        self.max_num_load_retries = max(0, max_num_load_retries)
        self.load_retry_interval_s = max(0.0, load_retry_interval_s)
        self.warmup_iterations = max(1, warmup_iterations)
        self._on_change = on_change
        self._metrics = metrics
        self._tags = tuple(tags) if tags else None
        self._loader = loader
        self._entries: dict[int, _Entry] = {}
        self._labels: dict[str, int] = {}
        self._cond = threading.Condition()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.versions_seen = False  # any version directory found yet

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        """Loads the aspired versions now (blocking), then watches the base path in a thread."""
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

    def unload_all(self):
        """Stops watching and unloads every version (the model left the config)."""
        self.stop()
        for version in self._loaded_versions():
            self._unload(version)

    def _watch(self):
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.poll_once()
            except Exception:  # the watcher must survive anything the filesystem throws at it
                log.exception("model %s: polling %s failed", self.model_name, self.base_path)

    # -- the version policy ------------------------------------------------------------------

    def set_version_policy(self, policy: VersionPolicy):
        """A new policy (config reload); applied by the next poll."""
        self.version_policy = policy

    def poll_once(self):
        """Scans the base path once, loads the aspired versions, unloads the others."""
        with self._poll_lock:
            try:
                versions = list_versions(self.base_path)
            except tf.errors.OpError as e:
                # TF Serving keeps serving what it has when the storage is unreachable.
                log.warning(
                    "model %s: cannot list %s: %s", self.model_name, self.base_path, e.message
                )
                return
            if versions:
                self.versions_seen = True
            wanted = aspired_versions(self.version_policy, versions)
            if versions and not wanted:
                log.warning(
                    "model %s: version policy %s matches none of the versions %s under %s",
                    self.model_name,
                    describe_policy(self.version_policy),
                    sorted(versions),
                    self.base_path,
                )
            loaded = set(self._loaded_versions())
            for version in sorted(wanted - loaded, reverse=True):
                entry = self._entries.get(version)
                if (
                    entry is not None
                    and entry.status.state == END
                    and entry.fingerprint is not None
                ):
                    if entry.fingerprint == _fingerprint(versions[version]):
                        continue  # failed before and unchanged since
                self._load(version, versions[version])
            # Availability preserving: drop unwanted versions only once a wanted one serves,
            # or when their directory is gone.
            serving_wanted = any(self._state(v) == AVAILABLE for v in wanted)
            for version in sorted(set(self._loaded_versions()) - wanted):
                if serving_wanted or version not in versions:
                    self._unload(version)

    def _state(self, version: int) -> str | None:
        with self._cond:
            entry = self._entries.get(version)
            return entry.status.state if entry else None

    def _loaded_versions(self) -> list[int]:
        with self._cond:
            return [v for v, e in self._entries.items() if e.status.state == AVAILABLE]

    def _set_state(self, entry: _Entry, state: str):
        with self._cond:
            entry.status.state = state
        if self._on_change is not None:
            self._on_change(self.model_name, entry.status.version, state)

    def _load(self, version: int, path: str) -> bool:
        with self._cond:
            entry = self._entries[version] = _Entry(version)
        self._set_state(entry, LOADING)
        started = time.perf_counter()
        attempt = 0
        while True:
            log.info("model %s: loading version %d from %s", self.model_name, version, path)
            attempt_started = time.perf_counter()
            try:
                if self._tags:
                    servable = self._loader(self.model_name, version, path, self._tags)
                else:
                    servable = self._loader(self.model_name, version, path)
                loaded_s = time.perf_counter() - attempt_started
                if self._metrics is not None:
                    self._metrics.load(path, True, loaded_s)
                warmed = self._replay_warmup(servable) if self.warmup else 0
                if self._metrics is not None and warmed:
                    self._metrics.warmup(path, time.perf_counter() - attempt_started - loaded_s)
                servable.warmup_requests_replayed = warmed
                break
            except Exception as e:  # any failure to load leaves the other versions serving
                if self._metrics is not None:
                    self._metrics.load(path, False, 0.0)
                error = f"{type(e).__name__}: {e}"
                if attempt < self.max_num_load_retries and not self._stop.is_set():
                    attempt += 1
                    log.warning(
                        "model %s: version %d failed to load (%s); retry %d of %d in %.1f s",
                        self.model_name,
                        version,
                        error,
                        attempt,
                        self.max_num_load_retries,
                        self.load_retry_interval_s,
                    )
                    self._stop.wait(self.load_retry_interval_s)
                    continue
                with self._cond:
                    entry.status = VersionStatus(version, END, grpc.StatusCode.UNKNOWN, error)
                    entry.fingerprint = _fingerprint(path)
                if self._on_change is not None:
                    self._on_change(self.model_name, version, "LOAD_FAILED")
                    self._on_change(self.model_name, version, END)
                log.error("model %s: version %d failed to load: %s", self.model_name, version, e)
                return False
        with self._cond:
            entry.servable = servable
        self._set_state(entry, AVAILABLE)
        log.info(
            "model %s: version %d AVAILABLE (%d warmup requests, %.1f s)",
            self.model_name,
            version,
            warmed,
            time.perf_counter() - started,
        )
        return True

    def _replay_warmup(self, servable) -> int:
        requests = read_warmup_requests(servable.path)
        for i, request in enumerate(requests):
            inputs = {k: proto_to_array(k, v) for k, v in request.inputs.items()}
            for _ in range(self.warmup_iterations):
                try:
                    servable.predict(
                        inputs, request.model_spec.signature_name, request.output_filter
                    )
                except ServingError as e:
                    raise WarmupError(
                        f"warmup request {i} failed: {e.code.name}: {e.message}"
                    ) from e
        return len(requests)

    def _unload(self, version: int):
        with self._cond:
            entry = self._entries[version]
            entry.status.state = UNLOADING
        if self._on_change is not None:
            self._on_change(self.model_name, version, UNLOADING)
        with self._cond:
            # Requests that hold this version finish on it; new ones already go elsewhere.
            self._cond.wait_for(lambda: entry.in_flight == 0)
            entry.servable = None
        self._set_state(entry, END)
        log.info("model %s: version %d unloaded", self.model_name, version)

    # -- version labels ----------------------------------------------------------------------

    def set_labels(self, labels: dict, allow_unavailable: bool = False):
        """Assigns version labels (ServerCore::UpdateModelVersionLabelMap's checks).

        Args:
            labels: {label: version}.
            allow_unavailable: a label not assigned before may name a version not yet
                AVAILABLE (`--allow_version_labels_for_unavailable_models`).
        """
        with self._cond:
            for label, version in labels.items():
                if self._state_locked(version) == AVAILABLE:
                    continue
                if allow_unavailable and label not in self._labels:
                    continue
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Request to assign label to version {version} of model {self.model_name}, "
                    "which is not currently available for inference",
                )
            self._labels = dict(labels)

    def _state_locked(self, version: int):
        entry = self._entries.get(version)
        return entry.status.state if entry else None

    @property
    def labels(self) -> dict:
        with self._cond:
            return dict(self._labels)

    def version_for_label(self, label: str) -> int:
        with self._cond:
            if label not in self._labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            return self._labels[label]

    # -- what the services use ---------------------------------------------------------------

    @contextlib.contextmanager
    def handle(self, version: int | None = None, label: str = ""):
        """Holds a loaded version for the length of a request.

        Args:
            version: a specific version, or None for the latest available one.
            label: a version label (from the model config's version_labels).

        Yields:
            The `LoadedVersion`; it is not unloaded before the block exits.
        """
        if label:
            version = self.version_for_label(label)
        with self._cond:
            if version is None:
                available = [v for v, e in self._entries.items() if e.status.state == AVAILABLE]
                wanted = max(available) if available else None
            else:
                wanted = version
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
                VersionStatus(
                    e.status.version, e.status.state, e.status.error_code, e.status.error_message
                )
                for _, e in sorted(self._entries.items(), reverse=True)
            ]

    @property
    def serving_version(self) -> int | None:
        """The version requests without a version go to (None before one is loaded)."""
        with self._cond:
            available = [v for v, e in self._entries.items() if e.status.state == AVAILABLE]
            return max(available) if available else None

    @property
    def available_versions(self) -> list[int]:
        return sorted(self._loaded_versions())

    def failed_versions(self) -> dict[int, str]:
        """{version: error} of the versions whose last load failed."""
        with self._cond:
            return {
                v: e.status.error_message
                for v, e in self._entries.items()
                if e.status.state == END and e.status.error_message
            }
