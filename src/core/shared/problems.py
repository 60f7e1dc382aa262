"""How each kind of failure should look to a caller, as plain data every transport can read.

Each context exports one table, `PROBLEMS`, from its error classes to a `ProblemKind`; the
entrypoints merge the tables and never name a context's errors themselves. A lookup walks the
error's class hierarchy, so a subclass without an entry of its own (InvalidEmail, a kind of
InvalidInput) takes its nearest ancestor's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import attrs

from core.shared.errors import DomainError, Forbidden, InvalidInput, NotFound
from core.shared.idempotency import IdempotencyKeyReused, RequestInFlight
from core.shared.principal import MfaRequired


@attrs.frozen(kw_only=True)
class ProblemKind:
    status: int  # the HTTP status a transport should answer with
    slug: str  # names the problem type, stable: clients may branch on it
    title: str
    headers: Callable[[DomainError], Mapping[str, str]] | None = None

    def headers_for(self, error: DomainError) -> Mapping[str, str]:
        return self.headers(error) if self.headers else {}


ProblemTable = Mapping[type[DomainError], ProblemKind]


def merged(tables: Iterable[ProblemTable]) -> dict[type[DomainError], ProblemKind]:
    """One table; an error class listed twice is a mistake, not an override."""
    everything: dict[type[DomainError], ProblemKind] = {}
    for table in tables:
        clash = everything.keys() & table.keys()
        if clash:
            raise ValueError(f"errors mapped twice: {sorted(c.__name__ for c in clash)}")
        everything.update(table)
    return everything


def kind_of(error: DomainError, table: ProblemTable) -> ProblemKind | None:
    """The entry of the error's class or of its nearest ancestor that has one."""
    for cls in type(error).__mro__:
        kind = table.get(cls)
        if kind is not None:
            return kind
    return None


def retry_after(seconds: float) -> dict[str, str]:
    """The Retry-After header: whole seconds, rounded up, at least one."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


INVALID_INPUT = ProblemKind(status=422, slug="invalid-input", title="Invalid input")
# What a transport answers when a request carries no valid credentials.
UNAUTHENTICATED = ProblemKind(status=401, slug="unauthenticated", title="Authentication required")
MFA_REQUIRED = ProblemKind(
    status=403, slug="mfa-required", title="Multi-factor authentication required"
)

PROBLEMS: ProblemTable = {
    InvalidInput: INVALID_INPUT,
    NotFound: ProblemKind(status=404, slug="not-found", title="Not found"),
    Forbidden: ProblemKind(status=403, slug="forbidden", title="Forbidden"),
    MfaRequired: MFA_REQUIRED,
    IdempotencyKeyReused: ProblemKind(
        status=422, slug="idempotency-key-reused", title="Idempotency key reused"
    ),
    RequestInFlight: ProblemKind(status=409, slug="request-in-flight", title="Request in flight"),
}
