"""Jobs run twice (a worker that crashed after the effect, before acknowledging the job) have
their effect once: one message planned per event, one mail at the provider. No worker runs
here: the test plays the worker, running the real handlers by hand, twice."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from messaging_http_support import Client, Fake, categories, jobs_of, register, scalar, unique_email
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.jobs import DISPATCH_EVENT, SEND_MESSAGE
from entrypoints.container import Container
from entrypoints.worker.handlers import HANDLERS


async def _event_of(owner: AsyncEngine, email: str) -> str:
    """The verification event of the registration just made (`email`'s): the newest one.
    Events carry ids only (issue 10), and no worker runs here to race for it."""
    found = await scalar(
        owner,
        "SELECT id FROM outbox WHERE name = 'identity.email_verification_requested'"
        " ORDER BY occurred_at DESC, id DESC LIMIT 1",
    )
    assert found is not None
    return str(found)


async def _messages_of(owner: AsyncEngine, event_id: str) -> list[str]:
    async with owner.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT id FROM messages WHERE event_id = :event"), {"event": event_id}
        )
        return [str(row) for row in rows.scalars()]


async def test_an_event_dispatched_twice_and_its_mail_sent_twice_reaches_the_provider_once(
    client: Client, fake: Fake, owner: AsyncEngine, container: Container
) -> None:
    email = unique_email("twice")
    await register(client, email)
    event_id = await _event_of(owner, email)
    # The outbox trigger deferred the dispatch in the registration's own transaction.
    assert [j["status"] for j in await jobs_of(owner, DISPATCH_EVENT, event_id=event_id)] == [
        "todo"
    ]

    for _ in range(2):
        await HANDLERS[DISPATCH_EVENT](container, {"event_id": event_id})
    (message_id,) = await _messages_of(owner, event_id)
    assert len(await jobs_of(owner, SEND_MESSAGE, message_id=message_id)) == 1

    for _ in range(2):
        await HANDLERS[SEND_MESSAGE](container, {"message_id": message_id})
    mails = await fake.mails_to(email)
    assert len(mails) == 1
    assert categories(mails[0]) == ["email_verification"]
    status = await scalar(owner, "SELECT status FROM messages WHERE id = :id", id=message_id)
    assert status == "sent"


async def test_a_send_interrupted_after_the_provider_accepted_is_not_sent_again(
    client: Client, fake: Fake, owner: AsyncEngine, container: Container
) -> None:
    """The worker died between SendGrid's 202 and our commit: the message is left SENDING with
    no provider id. The retry asks SendGrid (Email Activity, by our id) before sending."""
    email = unique_email("crash")
    await register(client, email)
    event_id = await _event_of(owner, email)
    await HANDLERS[DISPATCH_EVENT](container, {"event_id": event_id})
    (message_id,) = await _messages_of(owner, event_id)
    await HANDLERS[SEND_MESSAGE](container, {"message_id": message_id})
    (mail,) = await fake.mails_to(email)
    async with owner.begin() as connection:
        await connection.execute(
            sa.text(
                "UPDATE messages SET status = 'sending', provider_message_id = NULL WHERE id = :id"
            ),
            {"id": message_id},
        )

    await HANDLERS[SEND_MESSAGE](container, {"message_id": message_id})

    assert len(await fake.mails_to(email)) == 1
    async with owner.connect() as connection:
        row = (
            await connection.execute(
                sa.text("SELECT status, provider_message_id FROM messages WHERE id = :id"),
                {"id": uuid.UUID(message_id)},
            )
        ).one()
    assert row.status == "sent"
    assert str(row.provider_message_id).startswith(mail["x_message_id"])
