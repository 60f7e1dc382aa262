"""The books: balances and the export for admins, and reconciliation with the processor's
balance lines, which names every difference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from payments_support import HOUR, NOW, World, eur, failure, ok, open_world

from adapters.memory.payments import RefundMode
from core.payments import (
    CancelWithRefund,
    DifferenceKind,
    ExportLedger,
    GoodwillRefund,
    LedgerBalances,
    Reconcile,
    ResolveRefund,
)
from core.payments.ledger import AccountKind
from core.payments.ports import BalanceLine
from core.shared.errors import Forbidden, InvalidInput


@pytest.fixture
async def world() -> World:
    return await open_world()


async def test_balances_and_the_export_are_for_admins(world: World) -> None:
    paid = await world.pay(world.hold())
    admin = world.app.admin

    every = {b.account.kind: b.minor for b in ok(await world.app(LedgerBalances)(admin, None))}
    theirs = ok(await world.app(LedgerBalances)(admin, world.provider))
    exported = ok(await world.app(ExportLedger)(admin, NOW - HOUR, NOW + HOUR))

    assert every == {
        AccountKind.CUSTOMER: -10_000,
        AccountKind.PLATFORM_REVENUE: 1_000 - 300,
        AccountKind.PROCESSOR_FEES: 300,
        AccountKind.PROVIDER_PAYABLE: 9_000,
    }
    assert [(b.account.kind, b.minor) for b in theirs] == [(AccountKind.PROVIDER_PAYABLE, 9_000)]
    assert [t.payment_id for t in exported] == [paid.id, paid.id]
    assert ok(await world.app(ExportLedger)(admin, NOW + HOUR, NOW + 2 * HOUR)) == []
    assert isinstance(failure(await world.app(ExportLedger)(admin, NOW, NOW)), InvalidInput)
    assert isinstance(failure(await world.app(LedgerBalances)(world.manager, None)), Forbidden)


async def a_busy_day(world: World) -> None:
    """Two payments, a cancellation refund, a goodwill refund, a failed refund."""
    first, second = world.hold(), world.hold(starts_in=timedelta(days=6))
    await world.pay(first)
    paid = await world.pay(second)
    ok(await world.app(CancelWithRefund)(world.customer, first.id))
    ok(await world.app(GoodwillRefund)(world.app.admin, paid.id, eur(1_000), "k", "sorry"))
    world.app.gateway.refund_mode = RefundMode.FAIL
    ok(await world.app(GoodwillRefund)(world.app.admin, paid.id, eur(500), "k2", "again"))
    world.app.gateway.refund_mode = RefundMode.SUCCEED
    await world.app.deliver()  # the failing refund's refund.failed


async def test_a_day_whose_books_agree_has_no_differences(world: World) -> None:
    await a_busy_day(world)

    day = ok(await world.app(Reconcile)(world.app.admin, NOW.date()))

    assert day.differences == ()
    assert day.matched == 4  # two charges, two refunds; the failed refund nets to nothing


async def test_every_difference_is_named(world: World) -> None:
    await a_busy_day(world)
    charges = [p.charge_id for p in world.store.payments]
    refunds = [r.processor_refund_id for r in world.store.refunds]
    assert None not in (charges[0], charges[1], refunds[0])
    world.app.gateway.drop_lines(charges[0])
    world.app.gateway.change_line(charges[1], fee_minor=301)
    world.app.gateway.change_line(refunds[0], amount_minor=-9_999)
    world.app.gateway.add_line(
        BalanceLine(
            ref="txn_stray",
            kind="charge",
            source="ch_stray",
            amount=eur(777),
            fee=eur(0),
            created_at=NOW + HOUR,
        )
    )

    day = ok(await world.app(Reconcile)(world.app.admin, NOW.date()))

    found = {(d.kind, d.source, d.ledger_minor, d.processor_minor) for d in day.differences}
    assert found == {
        (DifferenceKind.MISSING_AT_PROCESSOR, charges[0], 10_000, None),
        (DifferenceKind.AMOUNT_DIFFERS, charges[1], 300, 301),
        (DifferenceKind.AMOUNT_DIFFERS, refunds[0], 10_000, 9_999),
        (DifferenceKind.MISSING_IN_LEDGER, "ch_stray", None, 777),
    }
    assert day.matched == 1


async def test_a_refund_resolved_by_hand_is_not_looked_for_at_the_processor(
    world: World,
) -> None:
    await a_busy_day(world)
    failed = next(r for r in world.store.refunds if r.failure is not None)

    ok(await world.app(ResolveRefund)(world.app.admin, failed.id, "wired by the bank"))
    day = ok(await world.app(Reconcile)(world.app.admin, NOW.date()))

    assert day.differences == ()


async def test_items_near_midnight_are_matched_across_the_day_boundary() -> None:
    late = datetime(2026, 6, 1, 23, 59, 30, tzinfo=UTC)
    world = await open_world(now=late)
    paid = await world.pay(world.hold())
    assert paid.charge_id is not None
    world.app.gateway.change_line(paid.charge_id, created_at=late + timedelta(minutes=1))

    today = ok(await world.app(Reconcile)(world.app.admin, late.date()))
    tomorrow = ok(await world.app(Reconcile)(world.app.admin, (late + HOUR).date()))

    assert (today.matched, today.differences) == (1, ())
    assert (tomorrow.matched, tomorrow.differences) == (1, ())


async def test_reconciling_is_for_admins(world: World) -> None:
    assert isinstance(failure(await world.app(Reconcile)(world.manager, NOW.date())), Forbidden)
