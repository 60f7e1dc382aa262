"""The Have I Been Pwned adapter against a local server speaking the range protocol."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
import pytest

from adapters.memory.security_fakes import FakeBreachedPasswords
from adapters.security.breached import BundledBreachedPasswords
from adapters.security.hibp import HibpBreachedPasswords
from core.identity.model import Email
from core.identity.password_policy import PasswordPolicy, PasswordTooCommon
from entrypoints.container import build_container
from entrypoints.settings import Settings

PWNED = "correct horse battery staple"  # not on the bundled list, known to the fake service
PADDING = [f"{n:035X}:0" for n in range(20)]  # what Add-Padding adds: suffixes counted 0


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest().upper()


@attrs.define
class FakePwnedPasswords:
    """GET /range/{5 hex}: every known suffix under that prefix as SUFFIX:COUNT lines."""

    known: dict[str, int]
    requests: list[tuple[str, str | None]] = attrs.field(factory=list)
    status: int = 200
    delay_seconds: float = 0.0

    def answer(self, path: str, padding: str | None) -> tuple[int, str]:
        self.requests.append((path, padding))
        prefix = path.removeprefix("/range/")
        lines = [f"{h[5:]}:{n}" for h, n in self.known.items() if h.startswith(prefix)]
        if padding == "true":
            lines += PADDING
        return self.status, "\r\n".join(lines)


@pytest.fixture
def service() -> Iterator[tuple[FakePwnedPasswords, str]]:
    fake = FakePwnedPasswords(known={_sha1(PWNED): 3_730_471, _sha1("other"): 5})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = fake.answer(self.path, self.headers.get("Add-Padding"))
            time.sleep(fake.delay_seconds)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # gave up
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _adapter(url: str, *, timeout_seconds: float = 2.0) -> HibpBreachedPasswords:
    return HibpBreachedPasswords(url, FakeBreachedPasswords([]), timeout_seconds=timeout_seconds)


async def test_a_pwned_password_is_found_sending_only_a_five_character_prefix(
    service: tuple[FakePwnedPasswords, str],
) -> None:
    fake, url = service

    found = await _adapter(url).contains(PWNED)

    assert found
    assert fake.requests == [(f"/range/{_sha1(PWNED)[:5]}", "true")]


async def test_an_unknown_password_and_padding_lines_do_not_match(
    service: tuple[FakePwnedPasswords, str],
) -> None:
    fake, url = service
    fake.known[f"{_sha1('never seen here')[:5]}{PADDING[0].split(':')[0]}"] = 0

    assert not await _adapter(url).contains("never seen here")


async def test_the_bundled_list_answers_first_without_asking(
    service: tuple[FakePwnedPasswords, str],
) -> None:
    fake, url = service
    adapter = HibpBreachedPasswords(url, FakeBreachedPasswords(["qwertyuiopasdf"]))

    assert await adapter.contains("QwertyUiopAsdf")
    assert fake.requests == []


async def test_an_outage_fails_open_to_the_bundled_list(
    service: tuple[FakePwnedPasswords, str],
) -> None:
    fake, url = service
    fake.status = 503

    assert not await _adapter(url).contains(PWNED)
    assert len(fake.requests) == 1


async def test_the_policy_refuses_a_password_the_service_knows(
    service: tuple[FakePwnedPasswords, str],
) -> None:
    _, url = service
    email = Email.parse("someone@example.com").unwrap()

    checked = await PasswordPolicy().check(PWNED, email=email, breached=_adapter(url))

    assert checked.failure() == PasswordTooCommon()


async def test_a_slow_service_is_given_up_after_the_timeout(
    service: tuple[FakePwnedPasswords, str],
) -> None:
    fake, url = service
    fake.delay_seconds = 1.0
    started = time.monotonic()

    found = await _adapter(url, timeout_seconds=0.2).contains(PWNED)

    assert not found  # fails open: judged by the bundled list alone
    assert time.monotonic() - started < 0.9


def test_the_container_asks_the_service_only_when_its_url_is_set(kek_file: Path) -> None:
    urls = {"database_url": "postgresql+psycopg://unused/db", "redis_url": "redis://unused/0"}
    off = build_container(Settings(**urls, kek_file=kek_file)).breached_passwords()
    on = build_container(
        Settings(**urls, kek_file=kek_file, hibp_api_url="http://127.0.0.1:9")
    ).breached_passwords()

    assert isinstance(off, BundledBreachedPasswords)
    assert isinstance(on, HibpBreachedPasswords)
