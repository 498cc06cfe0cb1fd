"""A GCS-protocol server on loopback that both TensorFlow's and Beam's GCS clients talk to.

The object store is `gcp-storage-emulator` (PyPI; GCS JSON API, in memory). In front of it one
loopback port does four jobs, and records every request it sees:

- **TensorFlow** (`tf.io.gfile` gs://) has its endpoints compiled in (www.googleapis.com and
  storage.googleapis.com over HTTPS, no emulator variable: tsl/platform/cloud/gcs_file_system.cc)
  but its libcurl honours `https_proxy` and `CURL_CA_BUNDLE`. So TF is given this port as its
  proxy: a `CONNECT` to one of those two hosts is answered here, TLS is terminated with a
  certificate of a throw-away test CA (the only CA TF trusts in the test), and the requests go to
  the emulator. The emulator's resumable-upload URLs are `http://www.googleapis.com/...`, which
  curl then sends here as plain proxy requests. Any other host is refused (403) and recorded.
  TF's token comes from `GOOGLE_AUTH_TOKEN_FOR_TESTING` (no metadata server, no OAuth call).
- **Beam** (apache_beam.io.gcp.gcsio, google-cloud-storage) selects its endpoint with
  `STORAGE_EMULATOR_HOST`: this port, plain HTTP.
- Beam first looks for Application Default Credentials; it is given a service-account file
  (fresh key) whose token URI is `/token` on this port, answered here (no Google OAuth endpoint
  is reached).
- The GCE metadata variables point at a loopback port that nothing listens on.

Everything binds to 127.0.0.1; the test fails closed because every client's only route out is
this port (proxy variables for all HTTP(S), `NO_PROXY` only for loopback) and refused requests
are asserted to be zero.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass

GCS_HOSTS = ("www.googleapis.com", "storage.googleapis.com")
TOKEN_PATH = "/token"
TF_TEST_TOKEN = "vre-loopback-test-token"


@dataclass
class SeenRequest:
    client: str  # "tf" (through the proxy), "beam" (STORAGE_EMULATOR_HOST), "token", "refused"
    method: str
    host: str
    path: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_test_ca(folder: str) -> tuple[str, str, str]:
    """A CA and a certificate for the two GCS hosts signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    validity = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("vre loopback test CA"))
        .issuer_name(name("vre loopback test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(GCS_HOSTS[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in GCS_HOSTS]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = tuple(os.path.join(folder, n) for n in ("ca.pem", "cert.pem", "key.pem"))
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


def _write_service_account(folder: str, token_uri: str) -> str:
    """A service-account key file (fresh RSA key) whose token URI is on loopback.

    (An `authorized_user` file would not do: google-auth always sends those to Google's OAuth
    endpoint, whatever its token_uri says; a service account's token_uri is honoured.)
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = os.path.join(folder, "service_account.json")
    with open(path, "w") as f:
        json.dump(
            {
                "type": "service_account",
                "project_id": "vre-loopback",
                "private_key_id": "vre-loopback",
                "private_key": pem.decode(),
                "client_email": "vre-e2e@vre-loopback.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            },
            f,
        )
    return path


def _read_head(sock) -> bytes:
    """The request line and headers (up to the blank line), or b"" when the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
        if len(data) > 1 << 20:
            raise ValueError("request head over 1 MiB")
    return data


class _Front(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, loopback: "GcsLoopback"):
        self.loopback = loopback
        super().__init__(("127.0.0.1", 0), _FrontHandler)


class _FrontHandler(socketserver.BaseRequestHandler):
    def handle(self):
        loop: GcsLoopback = self.server.loopback
        sock = self.request
        sock.settimeout(300)  # a stalled client ends its handler instead of hanging it
        head = _read_head(sock)
        if not head:
            return
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode("latin-1").split(" ", 2)
        if method == "CONNECT":
            host = target.rsplit(":", 1)[0]
            if host not in GCS_HOSTS:
                loop.record("refused", method, host, target)
                sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            tls = loop.tls_context.wrap_socket(sock, server_side=True)
            head = _read_head(tls)
            if not head:
                return
            line, _, rest = head.partition(b"\r\n")
            method, path, version = line.decode("latin-1").split(" ", 2)
            loop.record("tf", method, host, path)
            self._forward(tls, method, path, version, rest)
            return
        if target.startswith("http://") or target.startswith("https://"):
            # A plain proxy request (curl's PUT to a resumable-upload URL).
            host, _, path = target.split("://", 1)[1].partition("/")
            path = "/" + path
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            if host not in GCS_HOSTS:
                loop.record("refused", method, host, target)
                sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            loop.record("tf", method, host, path)
            self._forward(sock, method, path, version, rest)
            return
        if target.split("?")[0] == TOKEN_PATH:
            loop.record("token", method, "127.0.0.1", target)
            self._drain_body(sock, rest)
            body = json.dumps(
                {
                    "access_token": "vre-loopback-beam-token",
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }
            ).encode()
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return
        loop.record("beam", method, "127.0.0.1", target)
        self._forward(sock, method, target, version, rest)

    @staticmethod
    def _read_body(sock, rest: bytes, on_expect=None) -> tuple[list[bytes], bytes]:
        """(header lines, the whole body) of a request: by Content-Length, or de-chunked (curl
        sends TF's resumable-upload PUTs chunked; the emulator needs a Content-Length)."""
        headers, _, buffered = rest.partition(b"\r\n\r\n")
        lines = [h for h in headers.split(b"\r\n") if h]
        lower = [h.lower() for h in lines]
        length = next(
            (int(h.split(b":", 1)[1]) for h in lower if h.startswith(b"content-length:")), 0
        )
        chunked = any(h.startswith(b"transfer-encoding:") and b"chunked" in h for h in lower)
        if on_expect is not None and any(h.startswith(b"expect:") for h in lower):
            if chunked or len(buffered) < length:
                on_expect()

        def more():
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("client closed in the middle of a request body")
            return chunk

        if not chunked:
            while len(buffered) < length:
                buffered += more()
            return lines, buffered
        body = b""
        while True:
            while b"\r\n" not in buffered:
                buffered += more()
            size_line, _, buffered = buffered.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buffered) < size + 2:
                buffered += more()
            body += buffered[:size]
            buffered = buffered[size + 2 :]
            if size == 0:
                break  # (no trailers from curl)
        lines = [h for h in lines if not h.lower().startswith(b"transfer-encoding:")]
        lines.append(f"Content-Length: {len(body)}".encode())
        return lines, body

    def _drain_body(self, sock, rest: bytes):
        self._read_body(sock, rest)

    def _forward(self, client, method, path, version, rest: bytes):
        """One request to the emulator; its (HTTP/1.0, closing) answer back to the client.

        Sequential on purpose (request body first, then the answer): an SSL socket must not be
        read and written from two threads at once.
        """
        # The emulator speaks HTTP/1.0 and never says 100 Continue: answer for it, or curl
        # waits a second before every upload.
        lines, body = self._read_body(
            client, rest, on_expect=lambda: client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        )
        drop = (b"expect:", b"proxy-connection:", b"connection:", b"keep-alive:")
        lines = [h for h in lines if not h.lower().startswith(drop)]
        upstream = socket.create_connection(
            ("127.0.0.1", self.server.loopback.emulator_port), timeout=300
        )
        try:
            head = f"{method} {path} {version}\r\n".encode() + b"\r\n".join(lines)
            upstream.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                client.sendall(chunk)
        finally:
            upstream.close()
            with contextlib.suppress(OSError):
                client.close()


def _accept_empty_media_uploads():
    """gcp-storage-emulator reads an empty request body as None and its media upload then fails
    (len(None)); TF writes folder markers ("a/b/", zero bytes) exactly that way. Read it as b""."""
    from gcp_storage_emulator.handlers import objects

    original = objects._media_upload
    if getattr(original, "accepts_empty", False):
        return

    def media_upload(request, response, storage):
        if request.data is None:
            request._data = b""
        return original(request, response, storage)

    media_upload.accepts_empty = True
    objects._media_upload = media_upload


class GcsLoopback:
    """Starts the emulator and its front port; `env` is what a client process needs.

    Args:
        folder: a local temp folder for the test CA and the credentials file.
        bucket: created at start.
    """

    def __init__(self, folder: str, bucket: str):
        self.folder = folder
        self.bucket = bucket
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()

    def record(self, client, method, host, path):
        with self._lock:
            self.requests.append(SeenRequest(client, method, host, path))

    def seen(self, client: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.client == client]

    def __enter__(self) -> "GcsLoopback":
        from gcp_storage_emulator.server import create_server

        _accept_empty_media_uploads()
        self.emulator_port = _free_port()
        self._emulator = create_server(
            "127.0.0.1", self.emulator_port, in_memory=True, default_bucket=self.bucket
        )
        self._emulator.start()
        ca, cert, key = _write_test_ca(self.folder)
        self.ca_file = ca
        self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls_context.load_cert_chain(cert, key)
        self._front = _Front(self)
        self.port = self._front.server_address[1]
        self._thread = threading.Thread(target=self._front.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self.port}"
        self.credentials_file = _write_service_account(self.folder, self.url + TOKEN_PATH)
        return self

    def __exit__(self, *exc):
        self._front.shutdown()
        self._front.server_close()
        # The emulator serves one request at a time; a client that left a request half-sent must
        # not hang the test's teardown.
        stopper = threading.Thread(target=self._emulator.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=10)

    def env(self, closed_port: int) -> dict[str, str]:
        """The variables that point TF and Beam (and anything else) at this server only."""
        metadata = f"127.0.0.1:{closed_port}"
        sdk_config = os.path.join(self.folder, "gcloud")
        os.makedirs(sdk_config, exist_ok=True)
        env = {
            # TF: its libcurl's only way out is this proxy, trusting only the test CA.
            "https_proxy": self.url,
            "http_proxy": self.url,
            "all_proxy": self.url,
            "no_proxy": "127.0.0.1,localhost,::1",
            "CURL_CA_BUNDLE": self.ca_file,
            "GOOGLE_AUTH_TOKEN_FOR_TESTING": TF_TEST_TOKEN,
            "NO_GCE_CHECK": "true",
            "GCS_RETRY_CONFIG_MAX_RETRIES": "2",
            "GCS_RETRY_CONFIG_INIT_DELAY_TIME_US": "100000",
            # Beam / google-cloud-storage: the emulator endpoint and loopback-only credentials.
            "STORAGE_EMULATOR_HOST": self.url,
            "GOOGLE_APPLICATION_CREDENTIALS": self.credentials_file,
            "GOOGLE_CLOUD_PROJECT": "vre-loopback",
            "CLOUDSDK_CONFIG": sdk_config,
            # Any metadata-server lookup goes to a closed loopback port.
            "GCE_METADATA_HOST": metadata,
            "GCE_METADATA_IP": metadata,
            "GCE_METADATA_ROOT": metadata,
        }
        for key in ("https_proxy", "http_proxy", "all_proxy", "no_proxy"):
            env[key.upper()] = env[key]
        return env
