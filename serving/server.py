"""`ModelServer`: one model manager behind a gRPC and a REST front end (what `vre serve` runs).

gRPC does its own limiting: `maximum_concurrent_rpcs` answers RESOURCE_EXHAUSTED when more
requests are in flight, and `grpc.max_receive_message_length` answers RESOURCE_EXHAUSTED for a
larger request. The REST front end applies the same two limits itself (HTTP 429).
"""

import logging
import threading
from concurrent import futures

import grpc

from serving.grpc_service import add_services
from serving.model_manager import ModelManager
from serving.model_registry import ModelRegistry
from serving.rest_server import RestServer

log = logging.getLogger("vre.serving")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # about 110 videos of Contract-2 features
DEFAULT_MAX_CONCURRENT = 32
DEFAULT_WORKER_THREADS = 16


def _bracketed(host: str) -> str:
    """An IPv6 literal in brackets, as host:port addresses need it."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class ModelServer:
    """Serves one model over TF Serving's gRPC and REST protocols.

    Args:
        model_name: the name clients address the model by.
        model_base_path: the folder of integer version directories.
        grpc_port: the gRPC port (0 picks a free one; see `grpc_port` after start()).
        rest_port: the REST port (0 picks a free one; None disables REST).
        host: the interface to bind; loopback unless told otherwise.
        poll_interval_s: how often the base path is scanned for new versions.
        max_request_bytes: the largest request accepted (RESOURCE_EXHAUSTED / 429 above it).
        max_concurrent_requests: the most requests in flight per front end (RESOURCE_EXHAUSTED /
            429 above it).
        worker_threads: threads of the gRPC server's pool.
        warmup: replay each version's warmup records before it takes traffic.
    """

    def __init__(
        self,
        model_name: str,
        model_base_path: str,
        grpc_port: int = 0,
        rest_port: int | None = 0,
        host: str = "127.0.0.1",
        poll_interval_s: float = 1.0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT,
        worker_threads: int = DEFAULT_WORKER_THREADS,
        warmup: bool = True,
    ):
        if not model_name:
            raise ValueError("model_name is empty: give the name clients will address")
        if max_request_bytes <= 0 or max_concurrent_requests <= 0 or worker_threads <= 0:
            raise ValueError(
                "max_request_bytes, max_concurrent_requests and worker_threads must be positive"
            )
        self.model_name = model_name
        self.host = host
        self.manager = ModelManager(model_name, model_base_path, poll_interval_s, warmup)
        self.registry = ModelRegistry({model_name: self.manager})
        self._grpc_port_wanted = grpc_port
        self._rest_port_wanted = rest_port
        self._max_request_bytes = max_request_bytes
        self._max_concurrent = max_concurrent_requests
        self._worker_threads = worker_threads
        self._grpc = None
        self._rest = None
        self._rest_thread = None
        self.grpc_port = None
        self.rest_port = None

    def start(self) -> "ModelServer":
        """Loads the latest version, then opens both ports. Returns self."""
        self.manager.start()
        try:
            self._start_grpc()
            if self._rest_port_wanted is not None:
                self._start_rest()
        except Exception:
            self.stop()
            raise
        log.info(
            "serving model %s from %s: gRPC %s, REST %s",
            self.model_name, self.manager.base_path, self.grpc_target,
            self.rest_url if self.rest_port else "off",
        )
        return self

    def _start_grpc(self):
        server = grpc.server(
            futures.ThreadPoolExecutor(self._worker_threads, thread_name_prefix="grpc"),
            maximum_concurrent_rpcs=self._max_concurrent,
            options=[
                ("grpc.max_receive_message_length", self._max_request_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),  # a taken port must fail, not be shared
            ],
        )
        add_services(server, self.registry)
        address = f"{_bracketed(self.host)}:{self._grpc_port_wanted}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as e:  # newer grpc raises where older returned 0
            raise OSError(f"cannot bind the gRPC port {address}: {e}") from e
        if port == 0:
            raise OSError(f"cannot bind the gRPC port {address}")
        server.start()
        self._grpc, self.grpc_port = server, port

    def _start_rest(self):
        try:
            self._rest = self._make_rest_server()
        except OSError as e:
            raise OSError(
                f"cannot bind the REST port {_bracketed(self.host)}:{self._rest_port_wanted}: {e}"
            ) from e
        self.rest_port = self._rest.server_address[1]
        self._rest_thread = threading.Thread(
            target=self._rest.serve_forever, name="rest", daemon=True
        )
        self._rest_thread.start()

    def _make_rest_server(self):
        return RestServer(
            (self.host, self._rest_port_wanted),
            self.registry,
            self._max_request_bytes,
            self._max_concurrent,
        )

    def stop(self, grace_s: float = 2.0):
        """Stops both front ends (letting requests in flight finish) and the version watcher."""
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest_thread.join()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace_s).wait()
            self._grpc = None
        self.manager.stop()

    def wait(self):
        """Blocks until the gRPC server stops (e.g. on stop() from a signal handler)."""
        if self._grpc is not None:
            self._grpc.wait_for_termination()

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
