"""One transaction per use-case call, and the events it leaves for others: every context's
unit of work is a `UnitOfWork` that adds its own repositories."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, TypeVar

import attrs

from core.shared.events import Event
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal


@attrs.frozen(kw_only=True)
class Access:
    """Whose rows a unit of work may reach: the database's second wall behind the use cases'
    own checks (PostgreSQL row-level security, migration 0004). A query that forgets its
    filter still sees only these rows. Stores without such a wall ignore it.

    `key` is for callers not known yet: the one thing they presented (an email's key, a token's
    digest) makes only the rows it names visible, until the use case has checked it and calls
    `act_as`. `all_rows` is for admins and the service's own maintenance jobs.
    """

    user_id: UserId | None = None
    provider_ids: frozenset[ProviderId] = frozenset()
    all_rows: bool = False
    key: str | None = None

    @classmethod
    def of(cls, caller: Principal) -> Access:
        return cls(
            user_id=caller.user_id, provider_ids=caller.provider_ids, all_rows=caller.is_admin
        )

    @classmethod
    def user(cls, user_id: UserId) -> Access:
        return cls(user_id=user_id)

    @classmethod
    def holding(cls, key: str) -> Access:
        return cls(key=key)


PUBLIC = Access()  # anyone: the catalog, availability, and no person's rows
MAINTENANCE = Access(all_rows=True)  # the service's own jobs, which act on every account


class Outbox(Protocol):
    async def add(self, *events: Event) -> None:
        """Written in the unit of work's transaction; delivered after commit, at least once."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the `async with` block without `commit()` rolls it back."""

    outbox: Outbox

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def act_as(self, user_id: UserId) -> None:
        """From now on in this transaction, reach `user_id`'s rows: the caller proved to be
        that user (a password, a token found by its `Access.key`)."""
        ...


U_co = TypeVar("U_co", bound=UnitOfWork, covariant=True)


class UnitOfWorkFactory(Protocol[U_co]):
    """Opens a fresh unit of work per call, for the rows `access` reaches; use cases hold one
    and call it per request."""

    def __call__(self, access: Access) -> U_co: ...
