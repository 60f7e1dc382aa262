"""The real app on a real uvicorn server configured as `reserva serve` configures it (ADR 37):
with a certificate it speaks TLS 1.3 and nothing older, with HSTS; and its /docs page lists the
operations in a real headless Chromium that cannot reach the internet."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from http_support import Client
from litestar import Litestar

from entrypoints.http.server import TlsFiles
from live_server import serving
from tls_support import client_context, handshake, self_signed

HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture
def certificate(tmp_path: Path) -> TlsFiles:
    return self_signed(tmp_path / "tls")


@pytest_asyncio.fixture
async def https(app: Litestar, certificate: TlsFiles) -> AsyncIterator[str]:
    async with serving(app, tls=certificate) as base_url:
        yield base_url


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


async def test_tls_1_3_connects_and_answers_with_hsts(https: str, certificate: TlsFiles) -> None:
    async with httpx.AsyncClient(verify=client_context(certificate)) as client:
        answer = await client.get(f"{https}/providers")
    version = await asyncio.to_thread(handshake, _port(https), client_context(certificate))

    assert version == "TLSv1.3"
    assert answer.status_code == 200
    assert answer.headers["strict-transport-security"] == HSTS


async def test_tls_1_2_and_plain_http_are_refused(https: str, certificate: TlsFiles) -> None:
    """A client offering TLS 1.2 at most gets no session; the same client allowed 1.3 does,
    so it is the version that is refused; plain HTTP on the port is no request either."""
    at_most_1_2 = client_context(certificate, maximum=ssl.TLSVersion.TLSv1_2)
    up_to_1_3 = client_context(certificate, maximum=ssl.TLSVersion.TLSv1_3)

    with pytest.raises(ssl.SSLError):
        await asyncio.to_thread(handshake, _port(https), at_most_1_2)
    assert await asyncio.to_thread(handshake, _port(https), up_to_1_3) == "TLSv1.3"
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.TransportError):
            await client.get(https.replace("https://", "http://") + "/providers")


# ---------------------------------------------------------------- the docs page, offline


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed (./dev.sh test installs it)")
    return found


def _rendered_dom(url: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """The DOM of `url` after its scripts ran (stdout; the console on stderr), in headless
    Chromium where every host name but 127.0.0.1 fails to resolve, as with no internet."""
    dump = subprocess.run(
        [
            _chromium(),
            *("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"),
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--enable-logging=stderr",  # the page's console, content policy reports included
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dump.returncode == 0, dump.stderr[-2000:]
    return dump


async def test_the_docs_page_lists_every_operation_in_chromium_with_no_internet(
    live: Client, tmp_path: Path
) -> None:
    operations = (await live.get("/openapi.json")).json()["paths"]
    page = await live.get("/docs")

    url = str(live.base_url).rstrip("/") + "/docs"
    chromium = await asyncio.to_thread(_rendered_dom, url, tmp_path / "profile")
    dom = chromium.stdout

    assert "cdn." not in page.text  # nothing to fetch from elsewhere
    assert "opblock-summary-path" in dom, dom[-2000:]  # Swagger UI rendered operations
    assert "Content Security Policy" not in chromium.stderr  # nothing the page needs is refused
    shown = {path for path in operations if f'data-path="{path}"' in dom}
    assert shown == set(operations)
