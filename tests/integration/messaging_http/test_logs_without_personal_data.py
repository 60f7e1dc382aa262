"""Issue 10: logs never hold personal data in clear. A whole flow runs over real HTTP with the
real worker (register, verify through the mailed link, log in, a failed login, a phone number
for WhatsApp, book, the worker mails and messages), every logger captured at DEBUG through the
handlers' real filters (structlog events, the standard library's records, uvicorn's access log
with its own formatter); then none of the person's email, phone, IP address or user agent may
appear in what was written."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from messaging_http_support import (
    PASSWORD,
    WEB,
    Authenticators,
    Client,
    Fake,
    book,
    eventually,
    ok,
    open_shop,
    verified_person,
)
from uvicorn.logging import AccessFormatter

from entrypoints.http.logging import redact_handlers

pytestmark = pytest.mark.usefixtures("worker")

USER_AGENT = "PersonalAgent/7.3 (Linux; marker-ua-5f2c)"
FORWARDED = "203.0.113.77"
PHONE = "+4915123456789"
CAPTURED = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every logger at DEBUG into one buffer, through the filters production installs."""
    buffer = io.StringIO()
    handlers: list[tuple[logging.Logger, logging.Handler, int]] = []
    for name in CAPTURED:
        logger = logging.getLogger(name)
        handler = logging.StreamHandler(buffer)
        handler.setLevel(logging.DEBUG)
        if name == "uvicorn.access":
            handler.setFormatter(
                AccessFormatter(
                    '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
                )
            )
        else:
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        handlers.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    redact_handlers(*CAPTURED)
    try:
        yield buffer
    finally:
        for logger, handler, level in handlers:
            logger.removeHandler(handler)
            logger.setLevel(level)


async def test_a_whole_flow_leaves_no_personal_data_in_the_logs(
    client: Client, fake: Fake, people: Authenticators, captured: io.StringIO
) -> None:
    client.headers.update({"User-Agent": USER_AGENT, "X-Forwarded-For": FORWARDED})
    person = await verified_person(client, fake, "logs")
    wrong = await client.post("/auth/login", json={"email": person.email, "password": "nope nope"})
    assert wrong.status_code == 401
    ok(await client.post("/auth/login", json={"email": person.email, "password": PASSWORD}))
    ok(
        await client.put(
            "/me/contact-preferences",
            json={"locale": "de", "phone": "+49 151 23456789", "whatsapp_opt_in": True},
            headers=person.headers,
        )
    )
    shop = await open_shop(client, people)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    await book(client, person, shop, start)
    await fake.mail_to(person.email, "booking_confirmed")

    async def messaged() -> list[object] | None:
        return await fake.whatsapp_to(PHONE) or None

    await eventually(messaged, "a WhatsApp message")

    text = captured.getvalue()
    assert '"POST /auth/register HTTP/1.1" 202' in text  # the access log was captured
    assert "/bookings" in text
    assert "procrastinate" in text  # and the worker's
    local_part = person.email.split("@")[0]
    for value in (person.email, local_part, PHONE, "151 23456789", "15123456789", USER_AGENT,
                  "marker-ua-5f2c", FORWARDED, "127.0.0.1"):  # fmt: skip
        assert value not in text, f"{value!r} reached the logs"
    assert "SG.reserva-e2e" not in text  # SendGrid's client logs its API key at DEBUG: held back
    assert WEB not in text  # nor the mails, whose links carry one-time tokens
