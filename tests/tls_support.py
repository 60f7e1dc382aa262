"""A self-signed certificate for 127.0.0.1, made at test time (none is ever committed), the
clients that speak to a server using it, and a tiny ASGI app that says which process answered."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from entrypoints.http.server import TlsFiles

LOOPBACK = "127.0.0.1"


def self_signed(folder: Path) -> TlsFiles:
    """An ECDSA P-256 certificate for the IP 127.0.0.1, valid for a day, its key 0600."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsFiles(cert_file=cert_file, key_file=key_file)


def client_context(
    certificate: TlsFiles, *, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A verifying client that trusts `certificate`; `maximum` caps the versions it offers."""
    context = ssl.create_default_context(cafile=certificate.cert_file)
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = maximum
    return context


def handshake(port: int, context: ssl.SSLContext) -> str:
    """The TLS version a handshake with 127.0.0.1:`port` settles on (ssl.SSLError if none)."""
    with (
        socket.create_connection((LOOPBACK, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=LOOPBACK) as tls,
    ):
        version = tls.version()
    assert version is not None
    return version


async def pid_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every HTTP request with the pid of the worker process that served it, after
    blocking that process for a moment (deliberately: a busy worker accepts no connection, so
    requests in flight together reach different workers)."""
    if scope["type"] != "http":
        return
    time.sleep(0.3)  # noqa: ASYNC251 - blocking on purpose, see above
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
