"""Base of every domain error. Contexts define closed unions of frozen subclasses."""

from __future__ import annotations

import re

import attrs

_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@attrs.frozen
class DomainError:
    """An expected failure a caller can act on; never raised, always returned in a Result."""

    @property
    def title(self) -> str:
        return type(self).__name__

    @property
    def detail(self) -> str:
        """What a caller reads; errors with more to say override it. Never a class name:
        InvalidRefreshToken reads "invalid refresh token"."""
        return _WORD_START.sub(" ", type(self).__name__).lower()


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
