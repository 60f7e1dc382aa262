"""What the unit tests of every context check a `Result` with, and their Hypothesis profiles.
Imported by bare name, like `messaging_fake_support`."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from hypothesis import settings
from returns.result import Failure, Result

from core.shared.errors import DomainError

T = TypeVar("T")


def ok(result: Result[T, Any]) -> T:
    if isinstance(result, Failure):
        raise AssertionError(f"expected a success, got {result}")
    return result.unwrap()


def failure(result: Result[Any, Any]) -> DomainError:
    assert isinstance(result, Failure), result
    error = result.failure()
    assert isinstance(error, DomainError)
    return error


def hypothesis_profile(context: str, *, fast: int) -> settings:
    """`<context>-fast` (`fast` examples, the default) or `<context>-thorough` (500), as
    `RESERVA_HYPOTHESIS` says: `thorough` runs many more examples."""
    settings.register_profile(f"{context}-fast", max_examples=fast, deadline=None)
    settings.register_profile(f"{context}-thorough", max_examples=500, deadline=None)
    return settings.get_profile(f"{context}-{os.environ.get('RESERVA_HYPOTHESIS', 'fast')}")
