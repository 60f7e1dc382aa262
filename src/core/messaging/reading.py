"""Who may read which messages, and an admin's resend.

The customer reads their own, a provider's staff (with a second factor) the provider's, an
admin (with a second factor) every one. A message the caller may not read is NotFound, as an
unknown one: existence is never leaked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import attrs
from returns.result import Failure, Result, Success

from core.messaging.errors import AddressUndeliverable
from core.messaging.model import Channel, Message, MessageId, MessageStatus
from core.messaging.planning import resend_dedupe_key
from core.messaging.ports import MessagingUnitOfWork
from core.shared.errors import DomainError, Forbidden, NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal, may_manage, require_admin
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

MAX_PAGE = 200
MAX_RESENDS = 100


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def may_read(caller: Principal, message: Message) -> bool:
    if message.recipient_id == caller.user_id:
        return True
    if caller.is_admin:
        return isinstance(require_admin(caller), Success)
    pid = message.provider_id
    return pid is not None and isinstance(may_manage(caller, pid), Success)


@attrs.frozen(kw_only=True)
class ListMyMessages(UseCase):
    """GET /me/messages: the caller's messages, newest first; `before` pages."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]

    async def __call__(
        self, caller: Principal, *, before: MessageId | None = None, limit: int = 50
    ) -> Result[Sequence[Message], DomainError]:
        async with self.uow(Access.of(caller)) as uow:
            found = await uow.messages.list(
                recipient_id=caller.user_id, before=before, limit=_limit(limit)
            )
        return Success(found)


@attrs.frozen(kw_only=True)
class ListProviderMessages(UseCase):
    """The messages about a provider's bookings (customers' and staff copies), for its staff."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]

    async def __call__(
        self,
        caller: Principal,
        provider_id: ProviderId,
        *,
        status: MessageStatus | None = None,
        before: MessageId | None = None,
        limit: int = 50,
    ) -> Result[Sequence[Message], Forbidden]:
        allowed = may_manage(caller, provider_id)
        if isinstance(allowed, Failure):
            return allowed
        async with self.uow(Access.of(caller)) as uow:
            found = await uow.messages.list(
                provider_id=provider_id, status=status, before=before, limit=_limit(limit)
            )
        return Success(found)


@attrs.frozen(kw_only=True)
class ListAllMessages(UseCase):
    """Every message (admins), optionally of one status (FAILED ones are what to look at) or
    to one person."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]

    async def __call__(
        self,
        caller: Principal,
        *,
        status: MessageStatus | None = None,
        recipient_id: UserId | None = None,
        before: MessageId | None = None,
        limit: int = 50,
    ) -> Result[Sequence[Message], Forbidden]:
        admitted = require_admin(caller)
        if isinstance(admitted, Failure):
            return Failure(admitted.failure())
        async with self.uow(Access.of(caller)) as uow:
            found = await uow.messages.list(
                recipient_id=recipient_id, status=status, before=before, limit=_limit(limit)
            )
        return Success(found)


@attrs.frozen(kw_only=True)
class ShowMessage(UseCase):
    """One message, for its recipient, its provider's staff or an admin."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]

    async def __call__(self, caller: Principal, message_id: MessageId) -> Result[Message, NotFound]:
        async with self.uow(Access.of(caller)) as uow:
            message = await uow.messages.get(message_id)
        if message is None or not may_read(caller, message):
            return Failure(NotFound(kind="message", id=str(message_id)))
        return Success(message)


@attrs.frozen(kw_only=True)
class ResendMessage(UseCase):
    """An admin sends a message again: a new message (key `resend:{old id}:{n}`) with its own
    send job, composed afresh at send time. The original stays as it was."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock

    async def __call__(
        self, caller: Principal, message_id: MessageId
    ) -> Result[Message, Forbidden | NotFound | AddressUndeliverable]:
        admitted = require_admin(caller)
        if isinstance(admitted, Failure):
            return Failure(admitted.failure())
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            original = await uow.messages.get(message_id)
            if original is None or original.address is None:  # gone, or its recipient erased
                return Failure(NotFound(kind="message", id=str(message_id)))
            if original.channel is Channel.EMAIL and await uow.undeliverable.contains(
                original.address
            ):
                return Failure(AddressUndeliverable(original.address))
            for n in range(1, MAX_RESENDS + 1):
                copy = attrs.evolve(
                    original,
                    id=MessageId(uuid.uuid4()),
                    dedupe_key=resend_dedupe_key(original.id, n),
                    status=MessageStatus.QUEUED,
                    provider_message_id=None,
                    attempts=0,
                    last_error=None,
                    created_at=now,
                    updated_at=now,
                )
                if await uow.messages.add(copy):
                    await uow.jobs.send_message(copy.id)
                    await uow.commit()
                    return Success(copy)
        return Failure(NotFound(kind="message", id=f"{message_id} (resent too often)"))
