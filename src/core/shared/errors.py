"""Base of every domain error. Contexts define closed unions of frozen subclasses."""

from __future__ import annotations

import attrs


@attrs.frozen
class DomainError:
    """An expected failure a caller can act on; never raised, always returned in a Result."""

    @property
    def title(self) -> str:
        return type(self).__name__

    @property
    def detail(self) -> str:
        return self.title


@attrs.frozen
class InvalidInput(DomainError):
    field: str
    reason: str

    @property
    def detail(self) -> str:
        return f"{self.field}: {self.reason}"


@attrs.frozen
class NotFound(DomainError):
    """Also returned when the caller may not see the thing: existence is never leaked."""

    kind: str
    id: str

    @property
    def detail(self) -> str:
        return f"{self.kind} {self.id} not found"


@attrs.frozen
class Forbidden(DomainError):
    reason: str

    @property
    def detail(self) -> str:
        return self.reason
