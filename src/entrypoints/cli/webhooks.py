"""`reserva webhooks dead|redeliver`: integrators' webhook deliveries that every attempt of a
day failed, across every provider's endpoints, and trying one of them again.

Commands act as the operator account of the OS user running them (an admin with a second
factor; ADR 8). Like `messages`, this module only calls the container's providers; `main`
builds the container and mounts these commands. The container is typed `Any`, as in `jobs`:
only the composition root (and the modules import-linter lists) may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import attrs
import typer
from rich.table import Table

from core.integrations import DeadDelivery, Delivery, DeliveryId
from entrypoints.cli.console import CliError, fail, out, parse_id, say, value
from entrypoints.cli.identity import Runner, operator

PAGE_MAX = 100  # what ListDeadDeliveries answers at most
ERROR_WIDTH = 80


def _short(text: str, width: int = ERROR_WIDTH) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _last_answer(delivery: Delivery) -> str:
    last = delivery.last
    if last is None:
        return ""
    outcome = last.outcome
    if outcome.status is None:
        return _short(outcome.error or "no answer")
    return _short(f"{outcome.status} {outcome.body}".strip())


def _when(delivery: Delivery) -> str:
    return delivery.created_at.strftime("%Y-%m-%d %H:%M:%S")


def dead_table(dead: Sequence[DeadDelivery]) -> Table:
    table = Table("id", "provider", "endpoint", "event", "attempts", "created (UTC)", "last answer")
    for item in dead:
        d = item.delivery
        table.add_row(
            str(d.id),
            str(item.provider_id),
            item.url,
            str(d.event_type),
            str(d.attempts),
            _when(d),
            _last_answer(d),
        )
    return table


def delivery_table(delivery: Delivery) -> Table:
    table = Table("id", "endpoint", "event", "status", "attempts", "next attempt (UTC)")
    due = delivery.next_attempt_at
    table.add_row(
        str(delivery.id),
        str(delivery.endpoint_id),
        str(delivery.event_type),
        str(delivery.status),
        str(delivery.attempts),
        "" if due is None else due.strftime("%Y-%m-%d %H:%M:%S"),
    )
    return table


def _delivery_id(text: str) -> DeliveryId:
    """Parsed before anything connects: a typo is one line and exit 1."""
    try:
        return DeliveryId(parse_id("webhook delivery", text))
    except CliError as error:
        fail(str(error))


def _before(text: str | None) -> DeliveryId | None:
    return None if text is None else _delivery_id(text)


@attrs.frozen
class WebhookCommands:
    """The commands, bound to a runner (methods are typer commands; docstrings are help)."""

    run: Runner

    def dead(
        self,
        limit: Annotated[int, typer.Option(min=1, max=PAGE_MAX, help="Rows to show.")] = 50,
        before: Annotated[
            str | None, typer.Option(help="Continue after this delivery id (older ones).")
        ] = None,
    ) -> None:
        """List dead deliveries of every endpoint, newest first, with their last answer."""
        cursor = _before(before)

        async def listed(c: Any) -> Sequence[DeadDelivery]:
            dead: Sequence[DeadDelivery] = value(
                await c.list_dead_deliveries()(await operator(c), cursor, limit)
            )
            return dead

        found = self.run(listed)
        if not found:
            say("no dead webhook deliveries")
            return
        out.print(dead_table(found))
        if len(found) == limit:
            say(f"more: --before {found[-1].delivery.id}")

    def redeliver(
        self,
        delivery: Annotated[str, typer.Argument(help="Delivery id (see `webhooks dead`).")],
    ) -> None:
        """Try a delivery once more, now, with the same body (a job the worker runs)."""
        delivery_id = _delivery_id(delivery)

        async def redelivered(c: Any) -> Delivery:
            due: Delivery = value(await c.redeliver_webhook()(await operator(c), None, delivery_id))
            return due

        out.print(delivery_table(self.run(redelivered)))
        say("queued: a worker (`reserva worker`) tries it now")


def mount(app: typer.Typer, run: Runner) -> None:
    """Add `webhooks dead|redeliver` to the CLI, running on the containers `run` builds."""
    commands = WebhookCommands(run)
    webhooks = typer.Typer(help="Integrators' webhook deliveries.", no_args_is_help=True)
    webhooks.command("dead")(commands.dead)
    webhooks.command("redeliver")(commands.redeliver)
    app.add_typer(webhooks, name="webhooks")
