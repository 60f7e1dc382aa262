"""Turning the composition root's providers into Litestar dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from litestar.di import Provide

T = TypeVar("T")


def provide(factory: Callable[[], T]) -> Provide:
    """Resolve the provider on every request, so container overrides apply at any time."""

    async def dependency() -> T:
        return factory()

    return Provide(dependency, use_cache=False)
