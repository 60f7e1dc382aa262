"""The mark of a use case: what the composition root exposes to every entrypoint by name."""

from __future__ import annotations


class UseCase:
    """Empty base of every use-case class. The container registers each one once; HTTP
    dependencies and the CLI find them there by this base, so no list repeats them."""

    __slots__ = ()  # attrs' slotted classes stay slotted on top of it
