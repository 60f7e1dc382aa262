"""SendMessage against a provider's status report committing between its read and its write.

The provider may deliver a mail (and its webhook may commit `Messages.advance`) before its HTTP
answer reaches the worker, or while the worker is between reading a message and writing it.
Whatever the interleaving, the status never moves backwards, the provider's id is kept, and
nothing is sent twice. `MemoryMessagingStore.before_update` plays the concurrent transaction:
it commits just before the worker's compare-and-set compares.
"""

from __future__ import annotations

import pytest
from messaging_support import DAY, NOW, booking_event, dispatch, ok, world

from adapters.memory.messaging import InMemoryMessaging
from core.messaging import (
    Message,
    MessageId,
    MessageStatus,
    SendFailedTemporarily,
    SendMessage,
    StatusReport,
)
from core.shared.unit_of_work import MAINTENANCE

FORWARD = (
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.BOUNCED,
    MessageStatus.SPAM_REPORTED,
)


async def _planned(app: InMemoryMessaging) -> Message:
    facts = app.booking(app.person().user_id, starts=NOW + 3 * DAY)
    await dispatch(app, booking_event("booking_confirmed", facts))
    (message,) = app.store.messages
    return message


async def _report(
    app: InMemoryMessaging,
    message_id: MessageId,
    status: MessageStatus,
    provider_message_id: str | None = None,
) -> None:
    """A provider's report committed in its own transaction (as the webhook does)."""
    async with app.store(MAINTENANCE) as uow:
        await uow.messages.advance(
            StatusReport(
                message_id=message_id,
                provider_message_id=provider_message_id,
                status=status,
                at=NOW,
                detail=f"{status} by the provider",
            )
        )
        await uow.commit()


def _report_before_update(app: InMemoryMessaging, status: MessageStatus, *, at_update: int) -> None:
    """The report commits just before the `at_update`-th write of the job compares (0: the
    SENDING mark, 1: recording the outcome)."""

    async def nothing(message: Message) -> None:
        return None

    async def report(message: Message) -> None:
        await _report(app, message.id, status)

    app.store.before_update.extend([nothing] * at_update + [report])


@pytest.mark.parametrize("status", FORWARD)
async def test_a_report_landing_between_the_send_and_the_record_is_kept(
    status: MessageStatus,
) -> None:
    app = world()
    message = await _planned(app)
    real_send = app.email.send

    async def send_and_report_at_once(email):  # type: ignore[no-untyped-def]
        receipt = await real_send(email)
        await _report(app, email.message_id, status)  # the webhook beat the HTTP answer
        return receipt

    app.email.send = send_and_report_at_once  # type: ignore[method-assign]
    recorded = ok(await app(SendMessage)(message.id))
    ((provider_id, _),) = app.email.sent
    stored = app.store.message(message.id)
    assert stored == recorded
    assert stored.status is status
    assert stored.provider_message_id == provider_id  # filled in: the report had none
    assert stored.last_error == f"{status} by the provider"
    assert stored.attempts == 1


@pytest.mark.parametrize("status", FORWARD)
async def test_a_report_committing_between_reading_and_recording_sent_is_not_overwritten(
    status: MessageStatus,
) -> None:
    app = world()
    message = await _planned(app)
    _report_before_update(app, status, at_update=1)
    ok(await app(SendMessage)(message.id))
    ((provider_id, _),) = app.email.sent
    stored = app.store.message(message.id)
    assert (stored.status, stored.provider_message_id) == (status, provider_id)
    assert not app.store.before_update  # the race did happen where it was meant to


async def test_a_report_keeping_its_own_provider_id_is_not_given_ours() -> None:
    app = world()
    message = await _planned(app)
    real_send = app.email.send

    async def send_and_report_at_once(email):  # type: ignore[no-untyped-def]
        receipt = await real_send(email)
        await _report(app, email.message_id, MessageStatus.DELIVERED, "sg-from-the-webhook")
        return receipt

    app.email.send = send_and_report_at_once  # type: ignore[method-assign]
    ok(await app(SendMessage)(message.id))
    stored = app.store.message(message.id)
    assert stored.status is MessageStatus.DELIVERED
    assert stored.provider_message_id == "sg-from-the-webhook"


async def test_a_message_moved_on_before_it_is_marked_sending_is_not_sent() -> None:
    app = world()
    message = await _planned(app)
    _report_before_update(app, MessageStatus.DELIVERED, at_update=0)
    left = ok(await app(SendMessage)(message.id))
    assert left.status is MessageStatus.DELIVERED
    assert app.store.message(message.id) == left
    assert app.email.calls == 0


async def test_a_refusal_does_not_overwrite_a_report_that_moved_the_message_on() -> None:
    app = world()
    message = await _planned(app)
    app.email.fail_next(1, "refuse")
    _report_before_update(app, MessageStatus.BOUNCED, at_update=1)
    ok(await app(SendMessage)(message.id))
    assert app.store.message(message.id).status is MessageStatus.BOUNCED


@pytest.mark.parametrize("final", [False, True])
async def test_a_temporary_failure_does_not_requeue_a_message_a_report_moved_on(
    final: bool,
) -> None:
    app = world()
    message = await _planned(app)
    app.email.fail_next(1, "temporary")
    _report_before_update(app, MessageStatus.DELIVERED, at_update=1)
    with pytest.raises(SendFailedTemporarily):
        await app(SendMessage)(message.id, final)
    assert app.store.message(message.id).status is MessageStatus.DELIVERED


@pytest.mark.parametrize("at_update", [0, 1])
@pytest.mark.parametrize("status", FORWARD)
async def test_wherever_a_report_lands_the_status_never_goes_back(
    at_update: int, status: MessageStatus
) -> None:
    app = world()
    message = await _planned(app)
    _report_before_update(app, status, at_update=at_update)
    ok(await app(SendMessage)(message.id))
    ok(await app(SendMessage)(message.id))  # the job's retry changes nothing
    stored = app.store.message(message.id)
    assert stored.status.rank >= status.rank
    assert stored.status is status
    assert len(app.email.sent) == (1 if at_update else 0)
