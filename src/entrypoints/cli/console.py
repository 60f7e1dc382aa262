"""What every CLI module prints with and how it fails: the two consoles, the one-line error
and the look at a use case's Result, written once for `main` and `identity`."""

from __future__ import annotations

import uuid
from typing import NoReturn, TypeVar

import typer
from returns.result import Failure, Result
from rich.console import Console

from core.shared.errors import DomainError

T = TypeVar("T")

out = Console()
err = Console(stderr=True)


class CliError(Exception):
    """A failure the operator can act on; its message is the whole story."""


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 1."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def value(result: Result[T, DomainError]) -> T:
    """A use case's value, or its failure as a CliError (the command's guard prints it)."""
    match result:
        case Failure(error):
            raise CliError(error.detail)
        case _:
            return result.unwrap()


def say(message: str) -> None:
    """A side remark on stderr, dimmed: progress, hints, what comes next."""
    err.print(message, style="dim", highlight=False)


def parse_id(kind: str, text: str) -> uuid.UUID:
    """An id typed by the operator; anything else is a clear error, not a traceback."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise CliError(f"{text!r} is not a valid {kind} id (expected a UUID)") from None
