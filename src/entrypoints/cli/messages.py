"""`reserva messages list|show|resend`: what was sent to whom, and sending again.

Commands act as the operator account of the OS user running them (an admin with a second
factor; ADR 8). Like `identity` and `payments`, this module only calls the container's
providers; `main` builds the container and mounts these commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import attrs
import typer
from rich.table import Table

from core.messaging import Message, MessageId, MessageStatus
from core.shared.ids import UserId
from entrypoints.cli.console import CliError, out, parse_id, say, value
from entrypoints.cli.identity import Runner, operator
from entrypoints.container import Container


def _table(messages: Sequence[Message]) -> Table:
    table = Table("id", "kind", "channel", "status", "to", "attempts", "created (UTC)", "error")
    for m in messages:
        table.add_row(
            str(m.id),
            str(m.kind),
            str(m.channel),
            str(m.status),
            m.address if m.address is not None else "(erased)",
            str(m.attempts),
            m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            m.last_error or "",
        )
    return table


def _details(message: Message) -> Table:
    table = Table("field", "value", show_header=False)
    for name, shown in attrs.asdict(message, recurse=False).items():
        table.add_row(name, "" if shown is None else str(shown))
    return table


def _status(text: str | None) -> MessageStatus | None:
    if text is None:
        return None
    try:
        return MessageStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in MessageStatus)
        raise CliError(f"--status must be one of {known}; got {text!r}") from None


@attrs.frozen
class MessagesCommands:
    """The commands, bound to a runner (methods are typer commands; docstrings are help)."""

    run: Runner

    def list_messages(
        self,
        user: Annotated[str | None, typer.Option(help="Only messages to this email.")] = None,
        status: Annotated[
            str | None, typer.Option(help="Only this status (queued, sent, failed...).")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=200, help="Rows to show.")] = 50,
        before: Annotated[
            str | None, typer.Option(help="Continue after this message id (older ones).")
        ] = None,
    ) -> None:
        """List messages, newest first."""

        async def listed(c: Container) -> Sequence[Message]:
            wanted = _status(status)
            cursor = None if before is None else MessageId(parse_id("message", before))
            caller = await operator(c)
            recipient: UserId | None = None
            if user is not None:
                recipient = value(await c.find_user_by_email()(caller=caller, email=user)).user_id
            return value(
                await c.list_all_messages()(
                    caller, status=wanted, recipient_id=recipient, before=cursor, limit=limit
                )
            )

        found = self.run(listed)
        out.print(_table(found))
        if len(found) == limit:
            say(f"more: --before {found[-1].id}")

    def show(self, message: Annotated[str, typer.Argument(help="Message id.")]) -> None:
        """One message: its status, attempts, provider id and last error."""

        async def shown(c: Container) -> Message:
            message_id = MessageId(parse_id("message", message))
            return value(await c.show_message()(await operator(c), message_id))

        out.print(_details(self.run(shown)))

    def resend(self, message: Annotated[str, typer.Argument(help="Message id.")]) -> None:
        """Send a message again (a new message, queued now)."""

        async def resent(c: Container) -> Message:
            message_id = MessageId(parse_id("message", message))
            return value(await c.resend_message()(await operator(c), message_id))

        out.print(_table([self.run(resent)]))


def mount(app: typer.Typer, run: Runner) -> None:
    """Add `messages` to the CLI, running on the containers `run` builds."""
    commands = MessagesCommands(run)
    messages = typer.Typer(help="Emails and WhatsApp messages sent.", no_args_is_help=True)
    messages.command("list")(commands.list_messages)
    messages.command("show")(commands.show)
    messages.command("resend")(commands.resend)
    app.add_typer(messages, name="messages")
