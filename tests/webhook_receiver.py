"""A tiny HTTPS receiver integration tests start on 127.0.0.1, with a certificate made for
the test (a CA-less self-signed one for 127.0.0.1 that the poster is told to trust). It records
every request with the test clock's time and answers from a script (default 200 "ok")."""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@attrs.define
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: datetime  # the test clock's time when it arrived


@attrs.define
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0


@attrs.define
class Receiver:
    url: str
    trust: ssl.SSLContext  # what the poster verifies the receiver's certificate with
    received: list[Received]
    script: list[Answer]


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a timeout test, a refused certificate) is expected."""


@contextmanager
def https_receiver(now: Callable[[], datetime]) -> Iterator[Receiver]:
    received: list[Received] = []
    script: list[Answer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            received.append(Received(self.path, dict(self.headers.items()), body, now()))
            answer = script.pop(0) if script else Answer()
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    with tempfile.TemporaryDirectory(prefix="reserva-receiver-") as folder:
        cert, key = _certificate(Path(folder))
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert, key)
        server = _QuietServer(("127.0.0.1", 0), Handler)
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            trust = ssl.create_default_context(cafile=str(cert))
            yield Receiver(f"https://127.0.0.1:{port}/hooks/reserva", trust, received, script)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
