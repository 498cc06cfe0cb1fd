"""A Kubeflow Pipelines v2beta1 REST endpoint on loopback that records what the `kfp` client sends.

There is no cluster here, so the submit and schedule commands are checked against this server:
it keeps pipelines, versions, experiments, runs and recurring runs in memory, answers with the
JSON shapes of KFP's v2beta1 API (backend/api/v2beta1/*.proto as the generated kfp_server_api
client parses them), refuses a duplicate pipeline name with 409 like the real API server, and
records every request (method, path, query, JSON body or multipart form) for the tests to read.
"""

import datetime
import email.parser
import email.policy
import http.server
import itertools
import json
import threading
import urllib.parse

API = "/apis/v2beta1"


def _now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(item: dict, filter_json: str | None) -> bool:
    """Applies a v2beta1 Filter of EQUALS predicates (what the kfp client sends) to `item`."""
    if not filter_json:
        return True
    for predicate in json.loads(filter_json).get("predicates", []):
        if predicate.get("operation") not in (1, "EQUALS"):
            raise ValueError(f"unsupported filter operation {predicate.get('operation')!r}")
        if item.get(predicate["key"]) != predicate.get("stringValue"):
            return False
    return True


def parse_multipart(content_type: str, body: bytes) -> dict:
    """{field name: {"filename": ..., "content": bytes}} of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError(f"expected multipart/form-data, got {content_type!r}")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = {"filename": part.get_filename(), "content": part.get_payload(decode=True)}
    return fields


class RecordingKfpServer:
    """The in-memory KFP API; `start()` binds 127.0.0.1 on a free port, `url` is its address."""

    def __init__(self):
        self.requests = []
        self.pipelines = {}
        self.versions = {}
        self.experiments = {}
        self.runs = {}
        self.recurring_runs = {}
        self._ids = itertools.count(1)
        # Tests set this to list no pipeline (as when another client creates one concurrently).
        self.hide_pipelines_from_listing = False
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

            def do_DELETE(self):
                server._handle(self, "DELETE")

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def requests_to(self, method: str, path: str) -> list:
        """The recorded requests with this method and path (query string excluded)."""
        return [r for r in self.requests if r["method"] == method and r["path"] == API + path]

    # --- request handling -----------------------------------------------------------------------

    def _handle(self, handler, method):
        parsed = urllib.parse.urlsplit(handler.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        record = {
            "method": method,
            "path": parsed.path,
            "query": query,
            "headers": dict(handler.headers),
        }
        try:
            if content_type.startswith("multipart/form-data"):
                record["form"] = parse_multipart(content_type, body)
            elif body:
                record["json"] = json.loads(body)
            with self._lock:
                self.requests.append(record)
                status, answer = self._route(method, parsed.path, query, record)
        except (ValueError, KeyError) as e:
            status, answer = 400, {"error": str(e), "code": 3, "message": str(e)}
        payload = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _id(self, kind):
        return f"{kind}-{next(self._ids):04d}"

    def _route(self, method, path, query, record):
        if not path.startswith(API):
            return self._error(404, f"no route {path}")
        parts = path[len(API) :].strip("/").split("/")
        if method == "GET" and parts == ["healthz"]:
            return 200, {"multi_user": False}
        if method == "GET" and parts == ["pipelines"]:
            found = [p for p in self.pipelines.values() if _matches(p, query.get("filter"))]
            if self.hide_pipelines_from_listing:
                found = []
            return 200, {"pipelines": found, "total_size": len(found)} if found else {}
        if method == "POST" and parts == ["pipelines", "upload"]:
            return self._upload_pipeline(query, record)
        if method == "POST" and parts == ["pipelines", "upload_version"]:
            return self._upload_version(query, record)
        if (
            method == "GET"
            and len(parts) == 3
            and parts[0] == "pipelines"
            and parts[2] == "versions"
        ):
            if parts[1] not in self.pipelines:
                return self._error(404, f"pipeline {parts[1]} not found")
            found = [
                v
                for v in self.versions.values()
                if v["pipeline_id"] == parts[1] and _matches(v, query.get("filter"))
            ]
            if query.get("sort_by") == "created_at desc":
                found = found[::-1]
            found = found[: int(query.get("page_size") or 10)]
            return 200, {"pipeline_versions": found, "total_size": len(found)} if found else {}
        if method == "GET" and parts == ["experiments"]:
            found = [e for e in self.experiments.values() if _matches(e, query.get("filter"))]
            return 200, {"experiments": found, "total_size": len(found)} if found else {}
        if method == "POST" and parts == ["experiments"]:
            experiment = dict(
                record["json"],
                experiment_id=self._id("experiment"),
                created_at=_now(),
                storage_state="AVAILABLE",
            )
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if method == "POST" and parts == ["runs"]:
            return self._create(record["json"], "run", self.runs, state="PENDING")
        if method == "POST" and parts == ["recurringruns"]:
            body = record["json"]
            if "trigger" not in body:
                return self._error(400, "a recurring run needs a trigger")
            return self._create(body, "recurring_run", self.recurring_runs, status="ENABLED")
        return self._error(404, f"no route {method} {path}")

    def _error(self, status, message):
        codes = {400: 3, 404: 5, 409: 6}
        return status, {"error": message, "code": codes.get(status, 2), "message": message}

    def _upload_pipeline(self, query, record):
        name = query.get("name")
        upload = record["form"].get("uploadfile")
        if not name or upload is None:
            return self._error(400, "upload needs ?name= and an uploadfile part")
        if any(p["display_name"] == name for p in self.pipelines.values()):
            return self._error(409, f"pipeline {name!r} already exists")
        pipeline = {
            "pipeline_id": self._id("pipeline"),
            "display_name": name,
            "description": query.get("description", ""),
            "created_at": _now(),
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self._add_version(pipeline["pipeline_id"], name, upload["content"])
        return 200, pipeline

    def _upload_version(self, query, record):
        pipeline_id, name = query.get("pipelineid"), query.get("name")
        if pipeline_id not in self.pipelines:
            return self._error(404, f"pipeline {pipeline_id} not found")
        if any(
            v["display_name"] == name and v["pipeline_id"] == pipeline_id
            for v in self.versions.values()
        ):
            return self._error(409, f"version {name!r} already exists")
        return 200, self._add_version(pipeline_id, name, record["form"]["uploadfile"]["content"])

    def _add_version(self, pipeline_id, name, content):
        import yaml

        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": self._id("version"),
            "display_name": name,
            "created_at": _now(),
            "pipeline_spec": yaml.safe_load(content),
        }
        self.versions[version["pipeline_version_id"]] = version
        return version

    def _create(self, body, kind, store, **state):
        reference = body.get("pipeline_version_reference") or {}
        version_id = reference.get("pipeline_version_id")
        if version_id and version_id not in self.versions:
            return self._error(404, f"pipeline version {version_id} not found")
        if body.get("experiment_id") not in self.experiments:
            return self._error(404, f"experiment {body.get('experiment_id')} not found")
        item = dict(body, **{f"{kind}_id": self._id(kind)}, created_at=_now(), **state)
        store[item[f"{kind}_id"]] = item
        return 200, item
