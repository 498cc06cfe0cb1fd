"""The REST front end: TF Serving's `/v1/models/...` routes on a ModelRegistry.

Built on the standard library's ThreadingHTTPServer rather than aiohttp: every request ends in a
blocking TensorFlow call that releases the GIL, which a thread per connection serves directly,
while an event loop would hand each call to a thread pool anyway and add a dependency. The routes
and JSON shapes are TF Serving's (model_servers/http_rest_api_util.cc, json_tensor.cc); error
bodies are {"error": "..."} with TF Serving's HTTP status for the code. Request bodies may come
with Content-Length or chunked (Transfer-Encoding: chunked), as TF Serving's evhttp server takes
both. Every predict has a deadline of `--rest_api_timeout_in_ms` (TF Serving's default 30 s).
"""

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from serving import json_codec
from serving.errors import ServingError, invalid_argument, not_found
from serving.model_registry import SIGNATURE_DEF_FIELD, ModelRegistry, RequestTimer, internal_error
from serving.servable import DEFAULT_SIGNATURE

_OK = grpc.StatusCode.OK
_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
_INVALID = grpc.StatusCode.INVALID_ARGUMENT

# TF Serving's route patterns (kPredictionApiGegex, kModelStatusApiRegex).
_PREDICT_ROUTE = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)"
)
_STATUS_ROUTE = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?"
)

_MODEL_IN_PATH = re.compile(r"(?i)/v1/models/([^/:?]+)")


def _model_spec(name, version, label) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=unquote(name or ""))
    if version:
        spec.version.value = int(version)
    if label:
        spec.version_label = unquote(label)
    return spec


def _proto_json(message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


DEFAULT_TIMEOUT_MS = 30000  # TF Serving's --rest_api_timeout_in_ms


class RestApi:
    """Answers TF Serving REST requests: (method, path, body) -> (HTTP status, JSON bytes).

    Args:
        registry: the served models.
        timeout_ms: each predict's deadline (`--rest_api_timeout_in_ms`; <= 0: none).
        metrics_path: where Prometheus metrics are served (None: nowhere).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        metrics_path: str | None = None,
    ):
        self.registry = registry
        self.timeout_ms = timeout_ms
        self.metrics_path = metrics_path

    def api_name(self, method: str, path: str) -> str:
        """The API a request calls, for the request metrics ('' for no model API)."""
        path = path.split("?", 1)[0]
        if method == "POST" and (m := _PREDICT_ROUTE.fullmatch(path)):
            return m.group(4).lower()
        if method == "GET" and (m := _STATUS_ROUTE.fullmatch(path)):
            return "GetModelMetadata" if m.group(4) else "GetModelStatus"
        return ""

    def answer(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, bytes, grpc.StatusCode, str]:
        """Returns (HTTP status, JSON body, status code, error message) of one request."""
        path = path.split("?", 1)[0]
        try:
            if method == "POST" and (m := _PREDICT_ROUTE.fullmatch(path)):
                name, version, label, verb = m.groups()
                spec = _model_spec(name, version, label)
                if verb.lower() != "predict":
                    self._inference(spec, body, verb.lower())
                return 200, self._predict(spec, body), _OK, ""
            if method == "GET" and (m := _STATUS_ROUTE.fullmatch(path)):
                name, version, label, metadata = m.groups()
                if not name:
                    raise invalid_argument("Missing model name in request.")
                spec = _model_spec(name, version, label)
                if metadata:
                    return 200, self._metadata(spec), _OK, ""
                return 200, self._status(spec), _OK, ""
            if not path.lower().startswith("/v1/"):
                raise not_found(f"no such route: {method} {path} (the API is under /v1/models)")
            raise invalid_argument(f"Malformed request: {method} {path}")
        except ServingError as e:
            return e.http_status, json_codec.error_answer(e.message), e.code, e.message
        except Exception as e:  # never let a request take the server down
            err = internal_error(e)
            return err.http_status, json_codec.error_answer(err.message), err.code, err.message

    def _deadline(self) -> float | None:
        return time.monotonic() + self.timeout_ms / 1000.0 if self.timeout_ms > 0 else None

    def _inference(self, spec, body: bytes, verb: str):
        doc = json_codec.parse_body(body)
        spec.signature_name = json_codec.signature_name(doc)
        self.registry.check_inference_method(spec, verb)

    def _predict(self, spec, body: bytes) -> bytes:
        deadline = self._deadline()
        doc = json_codec.parse_body(body)
        signature = json_codec.signature_name(doc)
        with self.registry.handle(spec) as servable:
            key = signature or DEFAULT_SIGNATURE
            if key not in servable.input_specs:
                raise invalid_argument(
                    f'Serving signature name: "{key}" not found in signature def'
                )
            inputs, fmt = json_codec.predict_inputs(doc, servable.input_specs[key])
            version = servable.version
        spec.ClearField("version_label")
        spec.version.value = version  # the version the inputs were read for
        _, outputs, _ = self.registry.predict_arrays(spec, inputs, signature, (), deadline)
        return json_codec.predict_answer(outputs, fmt)

    def _status(self, spec) -> bytes:
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
        return json.dumps(_proto_json(self.registry.get_model_status(request)), indent=1).encode()

    def _metadata(self, spec) -> bytes:
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec, metadata_field=[SIGNATURE_DEF_FIELD]
        )
        response = self.registry.get_model_metadata(request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
        doc = {
            "model_spec": _proto_json(response.model_spec),
            "metadata": {SIGNATURE_DEF_FIELD: _proto_json(signature_map)},
        }
        return json.dumps(doc, indent=1).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    server_version = "vre-serving"

    def do_GET(self):
        metrics_path = self.server.api.metrics_path
        if metrics_path and self.path.split("?", 1)[0] == metrics_path:
            self._metrics()
            return
        self._handle("GET", 0)

    def _metrics(self):
        body = self.server.api.registry.metrics.exposition()
        from serving.monitoring import CONTENT_TYPE

        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        timer = self._timer("POST")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._handle("POST", None, timer)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            message = f"bad Content-Length header: {self.headers.get('Content-Length')!r}"
            self._reply(timer, 400, json_codec.error_answer(message), _INVALID, message)
            return
        limit = self.server.max_request_bytes
        if length > limit:
            self.close_connection = True  # the unread body would poison the next request
            message = f"request body of {length} bytes exceeds the limit of {limit} bytes"
            self._reply(timer, 429, json_codec.error_answer(message), _EXHAUSTED, message)
            return
        self._handle("POST", length, timer)

    def _read_chunked(self) -> bytes:
        """A chunked body (RFC 9112 7.1), within the request size limit."""
        limit = self.server.max_request_bytes
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadBody(400, _INVALID, f"bad chunk size line {line[:40]!r}") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BadBody(429, _EXHAUSTED, f"request body exceeds the limit of {limit} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _handle(self, method: str, length, timer=None):
        """Answers one request; length None means a chunked body."""
        timer = timer or self._timer(method)
        # The slot is taken before the body is read: a slow upload occupies the server too.
        if not self.server.slots.acquire(blocking=False):
            self.close_connection = True
            message = f"too many concurrent requests (limit {self.server.max_concurrent})"
            self._reply(timer, 429, json_codec.error_answer(message), _EXHAUSTED, message)
            return
        try:
            if length is None:
                body = self._read_chunked()
            else:
                body = self.rfile.read(length) if length else b""
            status, answer, code, message = self.server.api.answer(method, self.path, body)
        except _BadBody as e:
            self.close_connection = True
            status, answer, code, message = (
                e.status,
                json_codec.error_answer(e.message),
                e.code,
                e.message,
            )
        finally:
            self.server.slots.release()
        self._reply(timer, status, answer, code, message)

    def _timer(self, method: str) -> RequestTimer:
        m = _MODEL_IN_PATH.match(self.path)
        api = self.server.api
        return RequestTimer(
            "rest",
            f"{method} {self.path}",
            unquote(m.group(1)) if m else "",
            api.registry.metrics,
            api.api_name(method, self.path),
        )

    def _reply(self, timer, status: int, answer: bytes, code, message: str):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        timer.done(code, message)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # one line per request is logged by RequestTimer instead


class _BadBody(Exception):
    def __init__(self, status: int, code, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RestServer(ThreadingHTTPServer):
    """A threaded HTTP server answering TF Serving's REST API.

    Args:
        address: (host, port); port 0 picks a free one.
        registry: the served models.
        max_request_bytes: larger bodies are refused with 429 (RESOURCE_EXHAUSTED).
        max_concurrent: more requests at once are refused with 429.
        timeout_ms: each predict's deadline (`--rest_api_timeout_in_ms`).
        metrics_path: where Prometheus metrics are served (None: nowhere).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address,
        registry: ModelRegistry,
        max_request_bytes: int,
        max_concurrent: int,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        metrics_path: str | None = None,
    ):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.api = RestApi(registry, timeout_ms, metrics_path)
        self.max_request_bytes = max_request_bytes
        self.max_concurrent = max_concurrent
        self.slots = threading.BoundedSemaphore(max_concurrent)
