"""`reserva payments ...` and `reserva ledger ...`, and the settlement loop `serve` runs.

Commands act as the operator account of the OS user running them (an admin with a second
factor; ADR 8), so every money action is audited under it. Refunds the CLI asks for are named
by a request key (`--key`): the same key never refunds twice, so a command that failed half
way is simply run again with the same key. Like `identity`, this module only calls the
container's providers; `main` builds the container and mounts these commands.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import attrs
import structlog
import typer
from rich.table import Table

from core.payments import (
    Balance,
    LedgerTransaction,
    Payment,
    PaymentId,
    PaymentRecord,
    Reconciliation,
    Refund,
    RefundId,
    RefundStatus,
    SettlementReport,
)
from core.shared.ids import BookingId, ProviderId
from core.shared.money import Money
from entrypoints.cli.console import CliError, out, parse_id, say, value
from entrypoints.cli.identity import Runner, operator
from entrypoints.container import Container

_log = structlog.get_logger("reserva.payments")


# ---------------------------------------------------------------- arguments


def _day(text: str | None) -> date:
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"--day must be a date like 2026-03-01; got {text!r}") from None


def _instant(option: str, text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} must be an ISO 8601 date or time; got {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------- tables


def _payments_table(payments: Sequence[Payment]) -> Table:
    table = Table("id", "booking", "part", "status", "amount", "captured", "refunded", "review")
    for p in payments:
        table.add_row(
            str(p.id),
            str(p.booking_id),
            p.part.value,
            p.status.value,
            p.amount.display(),
            p.captured.display(),
            p.refunded.display(),
            "" if p.review is None else f"{p.review.value}: {p.review_reason or ''}",
        )
    return table


def _refunds_table(refunds: Sequence[Refund]) -> Table:
    table = Table("id", "payment", "amount", "reason", "status", "attempt", "failure", "updated")
    for r in refunds:
        table.add_row(
            str(r.id),
            str(r.payment_id),
            r.amount.display(),
            r.reason.value,
            r.status.value,
            str(r.attempt),
            r.failure or "",
            r.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def _balances_table(balances: Sequence[Balance]) -> Table:
    table = Table("account", "provider", "balance")
    for b in balances:
        table.add_row(
            b.account.kind.value,
            str(b.account.provider_id or ""),
            Money(b.minor, b.currency).display() if b.minor >= 0 else f"-{_abs(b)}",
        )
    return table


def _abs(balance: Balance) -> str:
    return Money(-balance.minor, balance.currency).display()


def _reconciliation_table(found: Reconciliation) -> Table:
    table = Table("kind", "source", "ledger", "processor", "detail")
    for d in found.differences:
        table.add_row(
            d.kind.value,
            d.source,
            "" if d.ledger_minor is None else str(d.ledger_minor),
            "" if d.processor_minor is None else str(d.processor_minor),
            d.detail,
        )
    return table


def _text(id: uuid.UUID | None) -> str | None:
    return None if id is None else str(id)


def _transaction_json(txn: LedgerTransaction) -> dict[str, Any]:
    return {
        "key": txn.key,
        "at": txn.at.isoformat(),
        "payment_id": _text(txn.payment_id),
        "refund_id": _text(txn.refund_id),
        "source": txn.source,
        "entries": [
            {
                "account": e.account.kind.value,
                "provider_id": None
                if e.account.provider_id is None
                else str(e.account.provider_id),
                "amount_minor": e.minor,
                "currency": e.currency.code,
            }
            for e in txn.entries
        ],
    }


# ---------------------------------------------------------------- commands


@attrs.frozen
class PaymentsCommands:
    """The commands, bound to a runner (methods are typer commands; docstrings are help)."""

    run: Runner

    def list_attention(
        self,
        refunds: Annotated[
            RefundStatus | None,
            typer.Option(help="List refunds in this status instead (e.g. failed)."),
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=100, help="Rows to show.")] = 50,
    ) -> None:
        """What needs an operator: payments waiting for review and failed refunds."""

        async def found(c: Container) -> tuple[Sequence[Payment], Sequence[Refund]]:
            caller = await operator(c)
            status = RefundStatus.FAILED if refunds is None else refunds
            listed = value(await c.list_refunds()(caller, status, limit))
            if refunds is not None:
                return [], listed
            return value(await c.list_payments_in_review()(caller, limit)), listed

        in_review, listed = self.run(found)
        if refunds is None:
            out.print("[bold]payments in review[/]")
            out.print(_payments_table(in_review))
            out.print("[bold]failed refunds[/] (retry: reserva payments retry-refund ID)")
        out.print(_refunds_table(listed))

    def show(self, booking: Annotated[str, typer.Argument(help="Booking id.")]) -> None:
        """A booking's payments and their refunds."""

        async def records(c: Container) -> Sequence[PaymentRecord]:
            booking_id = BookingId(parse_id("booking", booking))
            return value(await c.get_booking_payments()(await operator(c), booking_id))

        found = self.run(records)
        out.print(_payments_table([r.payment for r in found]))
        out.print(_refunds_table([refund for r in found for refund in r.refunds]))

    def refund(
        self,
        payment: Annotated[str, typer.Argument(help="Payment id.")],
        amount: Annotated[str, typer.Option(help="Decimal amount, e.g. 12.50.")],
        currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
        note: Annotated[str, typer.Option(help="Why; kept with the refund and audited.")],
        key: Annotated[
            str | None,
            typer.Option(help="Names this request: the same key never refunds twice."),
        ] = None,
    ) -> None:
        """A goodwill refund on top of the policy, paid by the platform (capped)."""
        request = key or f"cli-{secrets.token_hex(8)}"
        if key is None:
            say(f"request key {request}: if this fails half way, run again with --key {request}")

        async def refund(c: Container) -> Refund:
            payment_id = PaymentId(parse_id("payment", payment))
            money = value(Money.parse(amount, currency))
            caller = await operator(c)
            done = await c.goodwill_refund()(caller, payment_id, money, request, note)
            return value(done)

        out.print(_refunds_table([self.run(refund)]))

    def review(
        self,
        payment: Annotated[str, typer.Argument(help="Payment id.")],
        approve: Annotated[
            bool, typer.Option("--approve/--reject", help="Approve, or reject and refund.")
        ],
        note: Annotated[str, typer.Option(help="Why; audited.")],
    ) -> None:
        """Decide a payment in review; rejecting cancels the booking and refunds in full."""

        async def decide(c: Container) -> tuple[Payment, Refund | None]:
            payment_id = PaymentId(parse_id("payment", payment))
            done = value(await c.review_payment()(await operator(c), payment_id, approve, note))
            return done.payment, done.refund

        decided, refunded = self.run(decide)
        out.print(_payments_table([decided]))
        if refunded is not None:
            out.print(_refunds_table([refunded]))

    def retry_refund(self, refund: Annotated[str, typer.Argument(help="Refund id.")]) -> None:
        """Send a failed refund to the processor again."""

        async def retry(c: Container) -> Refund:
            refund_id = RefundId(parse_id("refund", refund))
            return value(await c.retry_refund()(await operator(c), refund_id))

        out.print(_refunds_table([self.run(retry)]))

    def resolve_refund(
        self,
        refund: Annotated[str, typer.Argument(help="Refund id.")],
        note: Annotated[str, typer.Option(help="How the money reached the customer.")],
    ) -> None:
        """Mark a failed refund paid outside the processor (e.g. by bank transfer)."""

        async def resolve(c: Container) -> Refund:
            refund_id = RefundId(parse_id("refund", refund))
            return value(await c.resolve_refund()(await operator(c), refund_id, note))

        out.print(_refunds_table([self.run(resolve)]))

    def settle(self) -> None:
        """Run the settlement sweep once (`reserva serve` runs it periodically)."""

        async def sweep(c: Container) -> SettlementReport:
            return await c.settle_payments()()

        report = self.run(sweep)
        for name, count in attrs.asdict(report).items():
            out.print(f"{name.replace('_', ' ')}: {count}")

    def reconcile(
        self,
        day: Annotated[str | None, typer.Option(help="UTC day, e.g. 2026-03-01 (today).")] = None,
    ) -> None:
        """Compare the ledger with the processor's balance transactions of a day; exit 1 if
        anything differs."""

        async def compare(c: Container) -> Reconciliation:
            when = _day(day)  # bad input is refused before the database is asked anything
            return value(await c.reconcile()(await operator(c), when))

        found = self.run(compare)
        out.print(f"{found.day}: {found.matched} matched, {len(found.differences)} differences")
        if found.differences:
            out.print(_reconciliation_table(found))
            raise typer.Exit(1)

    def balance(
        self,
        provider: Annotated[str | None, typer.Option(help="Only this provider's accounts.")] = None,
    ) -> None:
        """Ledger balances per account (they sum to zero per currency)."""

        async def balances(c: Container) -> Sequence[Balance]:
            provider_id = None if provider is None else ProviderId(parse_id("provider", provider))
            return value(await c.ledger_balances()(await operator(c), provider_id))

        out.print(_balances_table(self.run(balances)))

    def export(
        self,
        since: Annotated[str, typer.Option(help="From this instant (ISO 8601; UTC if bare).")],
        until: Annotated[str | None, typer.Option(help="Before this instant (now).")] = None,
    ) -> None:
        """Ledger transactions in [since, until) as JSON lines, oldest first."""

        async def export(c: Container) -> Sequence[LedgerTransaction]:
            start = _instant("--since", since)
            end = _instant("--until", until) if until else datetime.now(UTC) + timedelta(seconds=1)
            if end <= start:
                raise CliError("--until must be after --since")
            return value(await c.export_ledger()(await operator(c), start, end))

        for txn in self.run(export):
            typer.echo(json.dumps(_transaction_json(txn), sort_keys=True))


def mount(app: typer.Typer, run: Runner) -> None:
    """Add `payments` and `ledger` to the CLI, running on the containers `run` builds."""
    commands = PaymentsCommands(run)
    payments = typer.Typer(help="Payments and refunds.", no_args_is_help=True)
    payments.command("list")(commands.list_attention)
    payments.command("show")(commands.show)
    payments.command("refund")(commands.refund)
    payments.command("review")(commands.review)
    payments.command("retry-refund")(commands.retry_refund)
    payments.command("resolve-refund")(commands.resolve_refund)
    payments.command("settle")(commands.settle)
    payments.command("reconcile")(commands.reconcile)
    ledger = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
    ledger.command("balance")(commands.balance)
    ledger.command("export")(commands.export)
    app.add_typer(payments, name="payments")
    app.add_typer(ledger, name="ledger")
