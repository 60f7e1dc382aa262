"""HttpxWebhookPoster's guards: non-public addresses refused unless allowed (resolved and
checked, then connected to that very address), no redirects, bounded bodies and time."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from adapters.webhooks_out import HttpxWebhookPoster, is_public_address
from webhook_receiver import Answer, Receiver, https_receiver

BODY = b'{"id":"evt"}'
HEADERS = {"Content-Type": "application/json", "Reserva-Signature": "t=1,v1=00"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with https_receiver(lambda: datetime.now(UTC)) as running:
        yield running


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/hooks",  # loopback: the receiver itself is there
        "https://10.1.2.3/hooks",  # private
        "https://192.168.0.10/hooks",
        "https://172.16.5.4/hooks",
        "https://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
        "https://100.64.0.1/hooks",  # shared address space (CGNAT)
        "https://0.0.0.0/hooks",
        "https://[::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped loopback
        "https://localhost:{port}/hooks",
    ],
)
async def test_non_public_addresses_are_refused_when_not_allowed(
    receiver: Receiver, url: str
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    poster = HttpxWebhookPoster(verify=receiver.trust, timeout_seconds=2)
    try:
        outcome = await poster.post(url.format(port=port), BODY, HEADERS)
    finally:
        await poster.close()
    assert outcome.status is None
    assert outcome.error is not None
    assert "refused" in outcome.error
    assert receiver.received == []


async def test_a_name_resolving_to_a_private_address_is_refused_before_any_connection(
    receiver: Receiver,
) -> None:
    asked: list[tuple[str, int]] = []

    async def rebinding_dns(host: str, port: int) -> Sequence[str]:
        asked.append((host, port))
        return ["93.184.216.34", "10.0.0.5"]  # one public, one internal: refused

    poster = HttpxWebhookPoster(resolver=rebinding_dns)
    try:
        outcome = await poster.post("https://hooks.example.com/in", BODY, HEADERS)
    finally:
        await poster.close()
    assert asked == [("hooks.example.com", 443)]
    assert outcome.error is not None
    assert "10.0.0.5" in outcome.error
    assert receiver.received == []


async def test_the_request_goes_to_the_checked_address_with_the_name_kept(
    receiver: Receiver,
) -> None:
    """The resolved address is what we connect to; Host and TLS keep the name (the test's
    certificate names 127.0.0.1, so the name here is that address written differently)."""
    port = int(receiver.url.split(":")[2].split("/")[0])

    async def resolver(host: str, asked_port: int) -> Sequence[str]:
        assert (host, asked_port) == ("127.0.0.1", port)
        return ["127.0.0.1"]

    poster = HttpxWebhookPoster(
        allow_private_addresses=True, verify=receiver.trust, resolver=resolver
    )
    try:
        outcome = await poster.post(receiver.url, BODY, HEADERS)
    finally:
        await poster.close()
    assert outcome.status == 200
    [arrived] = receiver.received
    assert arrived.body == BODY
    assert arrived.headers["Host"] == f"127.0.0.1:{port}"
    assert arrived.headers["Reserva-Signature"] == "t=1,v1=00"


async def test_an_untrusted_certificate_is_a_failed_attempt(receiver: Receiver) -> None:
    poster = HttpxWebhookPoster(allow_private_addresses=True)  # the system's CAs only
    try:
        outcome = await poster.post(receiver.url, BODY, HEADERS)
    finally:
        await poster.close()
    assert outcome.status is None
    assert outcome.error is not None
    assert "ConnectError" in outcome.error


async def test_redirects_are_answers_not_followed_and_bodies_are_capped(
    receiver: Receiver,
) -> None:
    receiver.script.extend(
        [
            Answer(302, b"moved", {"Location": receiver.url + "/elsewhere"}),
            Answer(200, b"\x00" + b"y" * 4000),
        ]
    )
    poster = HttpxWebhookPoster(allow_private_addresses=True, verify=receiver.trust)
    try:
        redirected = await poster.post(receiver.url, BODY, HEADERS)
        long = await poster.post(receiver.url, BODY, HEADERS)
    finally:
        await poster.close()
    assert redirected.status == 302
    assert not redirected.succeeded
    assert len(receiver.received) == 2  # the redirect's target was never asked
    assert long.status == 200
    assert len(long.body.encode()) <= 1024 * 3
    assert long.body == "\ufffd" + "y" * 1023  # NUL never reaches the database


async def test_a_slow_endpoint_times_out(receiver: Receiver) -> None:
    receiver.script.append(Answer(200, b"late", delay=1.5))
    poster = HttpxWebhookPoster(
        allow_private_addresses=True, verify=receiver.trust, timeout_seconds=0.5
    )
    try:
        outcome = await poster.post(receiver.url, BODY, HEADERS)
    finally:
        await poster.close()
    assert outcome.status is None
    assert outcome.error is not None
    assert "timed out" in outcome.error or "Timeout" in outcome.error
    assert outcome.latency_ms < 1400


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("224.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("fe80::1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
