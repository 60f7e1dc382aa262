"""Stripe's webhooks: verified, recorded once, answered at once, processed after the answer.

Stripe retries a delivery until it gets a 2xx, for days, and may deliver an event twice or
out of order. So the answer only says the event is safely recorded (its signature checked, its
id stored; a redelivery is recorded once); the work happens after the response is sent (a
background task), and processing asks Stripe for the object's state instead of trusting the
event's copy. An event whose processing fails stays in the inbox, retried with back-off by the
same task and by the settlement sweeper that `reserva serve` runs.

No bearer token: the signature is the authentication. The path is exempt from the card-number
guard (edge.SIGNED_WEBHOOKS) and from the API rate limit, which would drop Stripe's retries.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import structlog
from litestar import Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import HeaderParameter

from core.payments import ProcessProcessorEvents, ReceiveProcessorEvent
from entrypoints.http.auth import PUBLIC
from entrypoints.http.controllers.sign_in import answers
from entrypoints.http.edge import SIGNED_WEBHOOKS
from entrypoints.http.problems import ok

_log = structlog.get_logger(__name__)

Signature = Annotated[
    str | None,
    HeaderParameter(name="Stripe-Signature", max_length=2000, description="t=...,v1=..."),
]


class ReceivedOut(msgspec.Struct, frozen=True):
    received: bool
    duplicate: bool  # this event id was recorded before (a redelivery)


async def process_events(process: ProcessProcessorEvents) -> None:
    """After the answer: handle one due event of the inbox (the oldest, usually this one), so
    concurrent deliveries are processed side by side, each by its own request. A failure is
    logged and left to the retries (the event stays in the inbox); it must never reach the
    processor as an error."""
    try:
        await process(limit=1)
    except Exception:
        _log.exception("processing processor events failed; the sweeper retries them")


@post(
    f"{SIGNED_WEBHOOKS}stripe",
    summary="Stripe webhook endpoint",
    description="Stripe's signed events (`Stripe-Signature`). Answers 200 once the event is "
    "recorded; a bad or stale signature is a 400 bad-signature problem.",
    tags=["webhooks"],
    opt={PUBLIC: True},
    status_code=200,
    responses=answers(400),
)
async def stripe_webhook(
    request: Request[Any, Any, Any],
    receive_processor_event: NamedDependency[ReceiveProcessorEvent],
    process_processor_events: NamedDependency[ProcessProcessorEvents],
    stripe_signature: Signature = None,
) -> Response[ReceivedOut]:
    payload = await request.body()
    new = ok(await receive_processor_event(payload, stripe_signature or ""))
    # A redelivery has nothing new to process: its first delivery's work is done or retried.
    work = BackgroundTask(process_events, process_processor_events) if new else None
    return Response(ReceivedOut(received=True, duplicate=not new), background=work)


ROUTES = [stripe_webhook]
