"""`ModelServer`: the served models behind a gRPC and a REST front end (what `vre serve` runs).

Startup is TF Serving's (server.cc BuildAndStart): the models' aspired versions are loaded before
any port opens, and the server refuses to start when a model loads no version (unless
`start_without_loaded_model`). The model config file is polled and re-applied, the optional
gRPC health service reports SERVING only while every model has an AVAILABLE version, and the
Prometheus metrics are served on the REST port when a monitoring config enables them.

gRPC does its own limiting: `maximum_concurrent_rpcs` answers RESOURCE_EXHAUSTED when more
requests are in flight, and `grpc.max_receive_message_length` answers RESOURCE_EXHAUSTED for a
larger request. The REST front end applies the same two limits itself (HTTP 429).
"""

import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from serving.batching import BatchingOptions, ModelRunner
from serving.grpc_service import add_services
from serving.model_config import (
    ModelConfigError,
    ModelServerConfig,
    check_model_config,
    read_model_config_file,
    single_model_config,
)
from serving.model_manager import ModelManager
from serving.model_registry import ModelRegistry
from serving.rest_server import DEFAULT_TIMEOUT_MS, RestServer

log = logging.getLogger("vre.serving")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # about 110 videos of Contract-2 features
DEFAULT_MAX_CONCURRENT = 32
DEFAULT_WORKER_THREADS = 16


class ModelLoadError(RuntimeError):
    """A model loaded no version at startup (TF Serving exits in that case)."""


def _bracketed(host: str) -> str:
    """An IPv6 literal in brackets, as host:port addresses need it."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass
class ServingOptions:
    """The TF Serving settings beyond one model's name and path (server.h Server::Options).

    Defaults are this Python API's; `vre serve` passes TF Serving's flag defaults (5 load
    retries one minute apart, for one).

    Attributes:
        model_config: a ModelServerConfig to serve instead of model_name/model_base_path.
        model_config_file: where model_config came from; polled when config_poll_wait_s > 0.
        config_poll_wait_s: seconds between reads of model_config_file (0: read once).
        batching: BatchingOptions to batch model calls (None: no batching).
        tensor_content: numbers in `tensor_content` (`--enable_serialization_as_tensor_content`).
        rest_timeout_ms: each REST predict's deadline (<= 0: none).
        max_num_load_retries: further attempts after a failed load.
        load_retry_interval_s: seconds between them.
        start_without_loaded_model: open the ports even if a model loads no version.
        wait_for_first_version_s: how long startup waits for a version directory to appear
            (TF Serving waits forever; None does the same).
        health_service: serve grpc.health.v1.Health (`--enable_grpc_healthcheck_service`).
        metrics_path: Prometheus metrics path on the REST port (None: off).
        allow_unavailable_labels: `--allow_version_labels_for_unavailable_models`.
        warmup_iterations: `--num_request_iterations_for_warmup`.
        saved_model_tags: the meta graph to load (None: "serve").
        grpc_options: extra gRPC server channel arguments (`--grpc_channel_arguments`).
        grpc_socket_path: also listen on this UNIX socket (`--grpc_socket_path`).
    """

    model_config: ModelServerConfig | None = None
    model_config_file: str = ""
    config_poll_wait_s: float = 0.0
    batching: BatchingOptions | None = None
    tensor_content: bool = False
    rest_timeout_ms: int = DEFAULT_TIMEOUT_MS
    max_num_load_retries: int = 0
    load_retry_interval_s: float = 0.0
    start_without_loaded_model: bool = False
    wait_for_first_version_s: float | None = 0.0
    health_service: bool = False
    metrics_path: str | None = None
    allow_unavailable_labels: bool = False
    warmup_iterations: int = 1
    saved_model_tags: tuple | None = None
    grpc_options: list = field(default_factory=list)
    grpc_socket_path: str = ""


class ModelServer:
    """Serves models over TF Serving's gRPC and REST protocols.

    Args:
        model_name: the name clients address the model by (None with options.model_config).
        model_base_path: the folder of integer version directories (local or gs://...).
        grpc_port: the gRPC port (0 picks a free one; see `grpc_port` after start()).
        rest_port: the REST port (0 picks a free one; None disables REST).
        host: the interface to bind; loopback unless told otherwise.
        poll_interval_s: how often the base paths are scanned for new versions.
        max_request_bytes: the largest request accepted (RESOURCE_EXHAUSTED / 429 above it).
        max_concurrent_requests: the most requests in flight per front end (RESOURCE_EXHAUSTED /
            429 above it).
        worker_threads: threads of the gRPC server's pool.
        warmup: replay each version's warmup records before it takes traffic.
        options: ServingOptions (model config, batching, retries, health, metrics, ...).
    """

    def __init__(
        self,
        model_name: str | None = None,
        model_base_path: str | None = None,
        grpc_port: int = 0,
        rest_port: int | None = 0,
        host: str = "127.0.0.1",
        poll_interval_s: float = 1.0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT,
        worker_threads: int = DEFAULT_WORKER_THREADS,
        warmup: bool = True,
        options: ServingOptions | None = None,
    ):
        self.options = options or ServingOptions()
        if self.options.model_config is None:
            if not model_name:
                raise ValueError("model_name is empty: give the name clients will address")
            if not model_base_path:
                raise ValueError(f"model_base_path of model {model_name!r} is empty")
            config = single_model_config(model_name, model_base_path)
        else:
            config = self.options.model_config
        try:
            check_model_config(config, self.options.model_config_file or "model config")
        except ModelConfigError as e:
            raise ValueError(str(e)) from e
        if max_request_bytes <= 0 or max_concurrent_requests <= 0 or worker_threads <= 0:
            raise ValueError(
                "max_request_bytes, max_concurrent_requests and worker_threads must be positive"
            )
        if self.options.metrics_path and rest_port is None:
            raise ValueError("Prometheus metrics are served on the REST port: enable REST")
        self.config = config
        self.host = host
        self.poll_interval_s = poll_interval_s
        self.warmup = warmup
        self.metrics = None
        if self.options.metrics_path:
            from serving.monitoring import ServingMetrics

            self.metrics = ServingMetrics()
        self._health = None
        runner = ModelRunner(
            self.options.batching, self.metrics.batch if self.metrics is not None else None
        )
        self.registry = ModelRegistry(
            {},
            runner,
            self.options.tensor_content,
            self._make_manager,
            self.options.allow_unavailable_labels,
            self.metrics,
        )
        self._grpc_port_wanted = grpc_port
        self._rest_port_wanted = rest_port
        self._max_request_bytes = max_request_bytes
        self._max_concurrent = max_concurrent_requests
        self._worker_threads = worker_threads
        self._grpc = None
        self._rest = None
        self._rest_thread = None
        self._config_thread = None
        self._stopping = threading.Event()
        self.grpc_port = None
        self.rest_port = None

    # -- models -----------------------------------------------------------------------------

    def _make_manager(self, model) -> ModelManager:
        o = self.options
        return ModelManager(
            model.name,
            model.base_path,
            self.poll_interval_s,
            self.warmup,
            version_policy=model.model_version_policy,
            max_num_load_retries=o.max_num_load_retries,
            load_retry_interval_s=o.load_retry_interval_s,
            warmup_iterations=o.warmup_iterations,
            on_change=self._version_changed,
            metrics=self.metrics,
            tags=o.saved_model_tags,
        )

    def _version_changed(self, model_name: str, version: int, state: str):
        if self.metrics is not None:
            self.metrics.version_state(model_name, version, state)
        self._update_health()

    def _update_health(self):
        if self._health is None:
            return
        from grpc_health.v1 import health_pb2

        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        managers = self.registry.managers
        all_ok = bool(managers)
        for name, manager in managers.items():
            ok = manager.serving_version is not None
            all_ok = all_ok and ok
            self._health.set(name, serving if ok else not_serving)
        self._health.set("", serving if all_ok else not_serving)

    def _load_initial(self):
        """Loads every model's aspired versions before the ports open (TF Serving's startup)."""
        for model in self.config.model_config_list.config:
            manager = self._make_manager(model)
            self._wait_for_versions(manager)
            manager.start()
            if manager.serving_version is None:
                failed = manager.failed_versions()
                why = (
                    "; ".join(f"version {v}: {e}" for v, e in sorted(failed.items()))
                    if failed
                    else f"no version directory under {manager.base_path}"
                )
                if not self.options.start_without_loaded_model:
                    manager.unload_all()
                    raise ModelLoadError(f"model {model.name} loaded no version: {why}")
                log.warning("model %s loaded no version (%s); serving anyway", model.name, why)
            with self.registry._lock:
                self.registry._managers[model.name] = manager
            if model.version_labels:
                manager.set_labels(
                    dict(model.version_labels), self.options.allow_unavailable_labels
                )
        self.registry.config = self.config

    def _wait_for_versions(self, manager: ModelManager):
        """Waits for a version directory, as TF Serving's startup does (ports still closed)."""
        import tensorflow as tf

        from serving.model_manager import list_versions

        limit = self.options.wait_for_first_version_s
        if self.options.start_without_loaded_model or (limit is not None and limit <= 0):
            return
        started = time.monotonic()
        step = self.poll_interval_s if self.poll_interval_s > 0 else 1.0
        while True:
            try:
                if list_versions(manager.base_path):
                    return
            except tf.errors.OpError:
                return  # manager.start() reports the unreadable base path
            log.warning(
                "No versions of servable %s found under base path %s. Did you forget to name "
                "your leaf directory as a number (eg. '/1/')?",
                manager.model_name,
                manager.base_path,
            )
            if limit is not None and time.monotonic() - started >= limit:
                return
            if self._stopping.wait(step):
                return

    def _poll_config(self):
        path, wait = self.options.model_config_file, self.options.config_poll_wait_s
        while not self._stopping.wait(wait):
            try:
                config = read_model_config_file(path)
                if config == self.registry.config:
                    continue
                log.info("model config file %s changed: reloading", path)
                self.registry.reload_config(config)
            except Exception as e:  # a bad edit must not stop the server
                log.error("model config file %s not applied: %s", path, e)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "ModelServer":
        """Loads the models' versions (blocking), then opens the ports. Returns self."""
        try:
            self._load_initial()
        except BaseException:
            self.registry.stop()  # batch threads and watchers of the models loaded so far
            raise
        try:
            self._start_grpc()
            if self._rest_port_wanted is not None:
                self._start_rest()
        except Exception:
            self.stop()
            raise
        if self.options.model_config_file and self.options.config_poll_wait_s > 0:
            self._config_thread = threading.Thread(
                target=self._poll_config, name="config-poll", daemon=True
            )
            self._config_thread.start()
        for name, manager in self.registry.managers.items():
            log.info(
                "serving model %s from %s: gRPC %s, REST %s",
                name,
                manager.base_path,
                self.grpc_target,
                self.rest_url if self.rest_port else "off",
            )
        return self

    def _start_grpc(self):
        options = [
            ("grpc.max_receive_message_length", self._max_request_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),  # a taken port must fail, not be shared
            *self.options.grpc_options,
        ]
        server = grpc.server(
            futures.ThreadPoolExecutor(self._worker_threads, thread_name_prefix="grpc"),
            maximum_concurrent_rpcs=self._max_concurrent,
            options=options,
        )
        add_services(server, self.registry)
        if self.options.health_service:
            from grpc_health.v1 import health, health_pb2_grpc

            self._health = health.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
            self._update_health()
        address = f"{_bracketed(self.host)}:{self._grpc_port_wanted}"
        try:
            port = server.add_insecure_port(address)
            if self.options.grpc_socket_path:
                server.add_insecure_port(f"unix:{self.options.grpc_socket_path}")
        except RuntimeError as e:  # newer grpc raises where older returned 0
            raise OSError(f"cannot bind the gRPC port {address}: {e}") from e
        if port == 0:
            raise OSError(f"cannot bind the gRPC port {address}")
        server.start()
        self._grpc, self.grpc_port = server, port

    def _start_rest(self):
        try:
            self._rest = RestServer(
                (self.host, self._rest_port_wanted),
                self.registry,
                self._max_request_bytes,
                self._max_concurrent,
                self.options.rest_timeout_ms,
                self.options.metrics_path,
            )
        except OSError as e:
            raise OSError(
                f"cannot bind the REST port {_bracketed(self.host)}:{self._rest_port_wanted}: {e}"
            ) from e
        self.rest_port = self._rest.server_address[1]
        self._rest_thread = threading.Thread(
            target=self._rest.serve_forever, name="rest", daemon=True
        )
        self._rest_thread.start()

    def stop(self, grace_s: float = 2.0):
        """Stops both front ends (letting requests in flight finish) and the watchers."""
        self._stopping.set()
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest_thread.join()
            self._rest = None
        if self._grpc is not None:
            if self._health is not None:
                self._health.enter_graceful_shutdown()
            self._grpc.stop(grace_s).wait()
            self._grpc = None
        if self._config_thread is not None:
            self._config_thread.join()
            self._config_thread = None
        self.registry.stop()

    def wait(self):
        """Blocks until the gRPC server stops (e.g. on stop() from a signal handler)."""
        if self._grpc is not None:
            self._grpc.wait_for_termination()

    @property
    def manager(self) -> ModelManager:
        """The model manager of the (first) served model."""
        managers = self.registry.managers
        if not managers:
            raise LookupError("no model is served")
        return next(iter(managers.values()))

    @property
    def model_name(self) -> str:
        return self.manager.model_name

    @property
    def grpc_target(self) -> str:
        return f"{_bracketed(self.host)}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{_bracketed(self.host)}:{self.rest_port}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
