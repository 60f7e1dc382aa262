"""One transaction per use-case call, and the events it leaves for others: every context's
unit of work is a `UnitOfWork` that adds its own repositories."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, TypeVar

from core.shared.events import Event


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


U_co = TypeVar("U_co", bound=UnitOfWork, covariant=True)


class UnitOfWorkFactory(Protocol[U_co]):
    """Opens a fresh unit of work per call; use cases hold one and call it per request."""

    def __call__(self) -> U_co: ...
