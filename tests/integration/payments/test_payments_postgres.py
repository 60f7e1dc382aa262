"""What only the database can promise about money, under real concurrency: refunds never
exceed a capture, a ledger key is posted once, the ledger balances and cannot be edited by the
application, workers never claim the same processor event, and each caller sees only the
payments they may see (row-level security). Everything runs as the app role, like the service.
"""

from __future__ import annotations

import asyncio
import uuid

import attrs
import pytest
import sqlalchemy as sa
from payments_integration_support import (
    HOUR,
    MINUTE,
    NOW,
    Store,
    add,
    captured,
    eur,
    payment,
    postgis_store,
    refund,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.keyring import MemoryKeyring
from adapters.memory.personal import MemoryPersonalData
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.postgis.unit_of_work import SET_CALLER, caller_settings
from core.payments import ledger
from core.payments.fraud import Velocity
from core.payments.model import Payment, PaymentStatus
from core.payments.ports import CustomerRef, ProcessorEvent, ProviderAccount
from core.shared.ids import ProviderId, UserId
from core.shared.unit_of_work import MAINTENANCE, PUBLIC, Access


@pytest.fixture
def pg(engine: AsyncEngine) -> Store:
    return postgis_store(engine)


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as connection:
        await connection.exec_driver_sql(SET_CALLER, caller_settings(MAINTENANCE))
        result = await connection.execute(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608
        return int(result.scalar_one())


# ---------------------------------------------------------------- refunds under concurrency


async def test_a_hundred_concurrent_refunds_never_exceed_the_capture(
    pg: Store, engine: AsyncEngine
) -> None:
    paid = captured(10_000)
    await add(pg, paid)
    amounts = [100 + (n * 37) % 400 for n in range(100)]  # 29,750 asked of 10,000
    start = asyncio.Event()

    async def ask(minor: int) -> bool:
        async with pg.uow(Access.user(paid.customer_id)) as uow:
            await start.wait()
            reserved = await uow.payments.reserve_refund(paid.id, eur(minor))
            await uow.commit()
            return reserved

    tasks = [asyncio.create_task(ask(minor)) for minor in amounts]
    await asyncio.sleep(0.2)  # every unit of work has its connection and transaction
    start.set()
    results = await asyncio.gather(*tasks)
    async with pg.uow(MAINTENANCE) as uow:
        stored = await uow.payments.get(paid.id)

    granted = sum(minor for minor, ok in zip(amounts, results, strict=True) if ok)
    assert stored is not None
    assert stored.refunded == eur(granted)
    assert 10_000 - max(amounts) < granted <= 10_000
    assert results.count(False) > 0


# ---------------------------------------------------------------- the ledger


async def test_the_same_ledger_key_posted_by_concurrent_transactions_is_one_transaction(
    pg: Store, engine: AsyncEngine
) -> None:
    paid = captured(10_000)
    await add(pg, paid)
    capture = ledger.capture(paid, NOW)
    start = asyncio.Event()

    async def post() -> bool:
        async with pg.uow(MAINTENANCE) as uow:
            await start.wait()
            posted = await uow.ledger.post(capture)
            await uow.commit()
            return posted

    tasks = [asyncio.create_task(post()) for _ in range(20)]
    await asyncio.sleep(0.1)
    start.set()
    results = await asyncio.gather(*tasks)

    assert results.count(True) == 1
    assert await _count(engine, "ledger_transactions") == 1
    assert await _count(engine, "ledger_entries") == len(capture.entries)


async def test_a_post_waiting_on_an_uncommitted_rival_writes_nothing(pg: Store) -> None:
    paid = captured(10_000)
    await add(pg, paid)
    capture = ledger.capture(paid, NOW)
    async with pg.uow(MAINTENANCE) as first:
        assert await first.ledger.post(capture)
        async with pg.uow(MAINTENANCE) as second:
            rival = asyncio.create_task(second.ledger.post(capture))
            await asyncio.sleep(0.2)
            assert not rival.done()  # waits on the unique key
            await first.commit()
            assert await rival is False
            await second.commit()
    async with pg.uow(MAINTENANCE) as uow:
        assert await uow.ledger.transactions(NOW, NOW + HOUR) == [capture]


PAID = ("customer", None, -100, "EUR")
UNBALANCED = {
    "does not sum to zero": [PAID, ("platform_revenue", None, 50, "EUR")],
    "mixes currencies": [PAID, ("platform_revenue", None, 100, "USD")],
    "has no entry": [],
    "names another provider": [PAID, ("provider_payable", "other", 100, "EUR")],
}


@pytest.mark.parametrize("entries", UNBALANCED.values(), ids=UNBALANCED.keys())
async def test_the_database_refuses_an_unbalanced_transaction_at_commit(
    engine: AsyncEngine, entries: list[tuple[str, str | None, int, str]]
) -> None:
    txn, provider, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with engine.connect() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO ledger_transactions (id, key, at, provider_id)"
                " VALUES (:id, 'raw', :at, :provider)"
            ),
            {"id": txn, "at": NOW, "provider": provider},
        )
        for position, (account, who, minor, currency) in enumerate(entries):
            await connection.execute(
                sa.text(
                    "INSERT INTO ledger_entries VALUES (:txn, :position, :account, :provider,"
                    " :minor, :currency)"
                ),
                {"txn": txn, "position": position, "account": account, "minor": minor,
                 "provider": other if who else None, "currency": currency},
            )  # fmt: skip
        with pytest.raises(sa.exc.IntegrityError, match="does not balance"):
            await connection.commit()

    assert await _count(engine, "ledger_transactions") == 0


async def test_a_balanced_transaction_written_by_hand_is_accepted(engine: AsyncEngine) -> None:
    txn = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO ledger_transactions (id, key, at) VALUES (:id, 'raw', :at)"),
            {"id": txn, "at": NOW},
        )
        await connection.execute(
            sa.text(
                "INSERT INTO ledger_entries VALUES (:txn, 0, 'customer', NULL, -100, 'EUR'),"
                " (:txn, 1, 'platform_revenue', NULL, 100, 'EUR')"
            ),
            {"txn": txn},
        )
    assert await _count(engine, "ledger_entries") == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET minor = minor * 2",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET at = now()",
        "DELETE FROM ledger_transactions",
        "TRUNCATE ledger_entries, ledger_transactions",
        "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_balanced",
    ],
)
async def test_the_app_role_cannot_edit_or_remove_ledger_rows(
    pg: Store, engine: AsyncEngine, statement: str
) -> None:
    paid = captured(10_000)
    await add(pg, paid)
    async with pg.uow(MAINTENANCE) as uow:
        await uow.ledger.post(ledger.capture(paid, NOW))
        await uow.commit()
    async with engine.connect() as connection:
        await connection.exec_driver_sql(SET_CALLER, caller_settings(MAINTENANCE))
        with pytest.raises(sa.exc.ProgrammingError, match=r"permission denied|must be owner"):
            await connection.execute(sa.text(statement))


# ---------------------------------------------------------------- the processor's events


def _event(n: int) -> ProcessorEvent:
    return ProcessorEvent(
        id=f"evt_{n}", type="payment_intent.succeeded", object_id=f"pi_{n}", account_ref=None,
        created_at=NOW,
    )  # fmt: skip


async def test_a_claim_skips_events_another_worker_holds(pg: Store) -> None:
    async with pg.uow(PUBLIC) as uow:  # receiving a webhook needs no caller
        for n in range(3):
            assert await uow.inbox.record(_event(n), NOW + n * MINUTE)
        await uow.commit()

    async with pg.uow(MAINTENANCE) as first, pg.uow(MAINTENANCE) as second:
        held = await first.inbox.claim(NOW + HOUR, 2)
        rest = await second.inbox.claim(NOW + HOUR, 10)  # would wait (and time out) if it locked
        await first.inbox.done(held[0].event.id, NOW + HOUR)
        await first.commit()
    async with pg.uow(MAINTENANCE) as third:
        left = await third.inbox.claim(NOW + HOUR, 10)

    assert [item.event.id for item in held] == ["evt_0", "evt_1"]
    assert [item.event.id for item in rest] == ["evt_2"]
    assert [item.event.id for item in left] == ["evt_1", "evt_2"]


# ---------------------------------------------------------------- row-level security


@attrs.frozen(kw_only=True)
class Party:
    customer: UserId
    provider: ProviderId
    payment: Payment


@attrs.frozen(kw_only=True)
class World:
    ana: Party
    ben: Party


@pytest.fixture
async def world(pg: Store) -> World:
    """Ana and Ben each paid a different provider, asked for a refund, have a processor
    customer; both captures are in the ledger; one event is in the inbox."""
    parties = []
    for name in ("ana", "ben"):
        customer, provider = UserId(uuid.uuid4()), ProviderId(uuid.uuid4())
        paid = captured(customer=customer, provider=provider, card_fingerprint="fp_shared")
        parties.append(Party(customer=customer, provider=provider, payment=paid))
        async with pg.uow(MAINTENANCE) as uow:
            await uow.payments.add(paid)
            await uow.payments.add(
                payment(customer=customer, status=PaymentStatus.FAILED, card_fingerprint="fp_x")
            )
            await uow.refunds.add(refund(paid, 1_000, request_key=name))
            await uow.customers.put(
                CustomerRef(user_id=customer, customer_ref=f"cus_{name}", idempotency_key=name)
            )
            await uow.accounts.put(
                ProviderAccount(provider_id=provider, account_ref=f"acct_{name}",
                                idempotency_key=f"acct-{name}", updated_at=NOW)
            )  # fmt: skip
            await uow.ledger.post(ledger.capture(paid, NOW))
            await uow.inbox.record(_event(len(parties)), NOW)
            await uow.commit()
    return World(ana=parties[0], ben=parties[1])


async def test_a_customer_sees_only_their_own_payments_and_refunds(pg: Store, world: World) -> None:
    ana, ben = world.ana, world.ben
    async with pg.uow(Access.user(ana.customer)) as uow:
        own = await uow.payments.get(ana.payment.id)
        others = (
            await uow.payments.get(ben.payment.id),
            await uow.payments.for_intent(str(ben.payment.intent_id)),
            await uow.payments.for_booking(ben.payment.booking_id),
            await uow.payments.for_customer(ben.customer, 10, None),
            await uow.refunds.for_payment(ben.payment.id),
            await uow.refunds.by_request(ben.payment.id, "ben"),
            await uow.customers.get(ben.customer),
            await uow.payments.unsettled(10),
        )
        refunds = await uow.refunds.for_payment(ana.payment.id)
        mine = await uow.payments.for_customer(ana.customer, 10, None)

    assert own == ana.payment
    assert others == (None, None, [], [], [], None, None, [ana.payment])
    assert [r.request_key for r in refunds] == ["ana"]
    assert len(mine) == 2


async def test_a_customer_reaches_no_ledger_no_inbox_and_no_other_money(
    pg: Store, world: World
) -> None:
    ana, ben = world.ana, world.ben
    async with pg.uow(Access.user(ana.customer)) as uow:
        books = await uow.ledger.transactions(NOW - HOUR, NOW + HOUR)
        balances = await uow.ledger.balances()
        events = await uow.inbox.claim(NOW + HOUR, 10)
        theirs = await uow.payments.reserve_refund(ben.payment.id, eur(1))
        ours = await uow.payments.reserve_refund(ana.payment.id, eur(1))
        # The velocity rules still count everyone's failures (owner's rights, counts only).
        seen = await uow.payments.velocity(ana.customer, "fp_x", None, NOW - HOUR)
        account = await uow.accounts.get(ben.provider)  # paying a provider reads its account
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            await uow.payments.add(payment(customer=ben.customer))

    assert (books, balances, events) == ([], [], [])
    assert (theirs, ours) == (False, True)
    assert seen == Velocity(failed_by_account=1, failed_by_card=2, payments_by_account=2)
    assert account is not None


async def test_staff_see_their_providers_payments_and_books_only(pg: Store, world: World) -> None:
    ana, ben = world.ana, world.ben
    staff = Access(user_id=UserId(uuid.uuid4()), provider_ids=frozenset({ben.provider}))
    async with pg.uow(staff) as uow:
        payments = (await uow.payments.get(ana.payment.id), await uow.payments.get(ben.payment.id))
        refunds = await uow.refunds.for_payment(ben.payment.id)
        books = await uow.ledger.transactions(NOW - HOUR, NOW + HOUR)
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            await uow.accounts.put(
                ProviderAccount(provider_id=ana.provider, account_ref="acct_stolen",
                                idempotency_key="stolen", updated_at=NOW)
            )  # fmt: skip

    assert payments == (None, ben.payment)
    assert [r.request_key for r in refunds] == ["ben"]
    assert books == [ledger.capture(ben.payment, NOW)]


async def test_without_a_caller_no_money_row_is_visible(pg: Store, world: World) -> None:
    async with pg.uow(PUBLIC) as uow:
        found = (
            await uow.payments.get(world.ana.payment.id),
            await uow.refunds.for_payment(world.ana.payment.id),
            await uow.ledger.balances(),
            await uow.inbox.claim(NOW + HOUR, 10),
            await uow.customers.get(world.ana.customer),
        )
    assert found == (None, [], [], [], None)


async def test_anyone_may_append_to_the_books_and_the_audit_log(pg: Store, world: World) -> None:
    """Money moves in the caller's own transaction: a customer's cancellation posts its
    refund and audits it; reading the books stays with admins and staff."""
    ana = world.ana
    gave_back = refund(ana.payment, 500, request_key="more")
    async with pg.uow(Access.user(ana.customer)) as uow:
        assert await uow.refunds.add(gave_back)
        assert await uow.ledger.post(ledger.refund(ana.payment, gave_back, NOW + MINUTE))
        await uow.audit.append("refund.requested", NOW, ana.customer, ana.customer, {"n": 1})
        await uow.commit()
    async with pg.uow(MAINTENANCE) as uow:
        assert len(await uow.ledger.transactions(NOW, NOW + HOUR)) == 3


async def test_money_audit_entries_join_the_one_hash_chain(pg: Store, engine: AsyncEngine) -> None:
    async def append(n: int) -> None:
        async with pg.uow(MAINTENANCE) as uow:
            await uow.audit.append("payment.started", NOW, None, UserId(uuid.uuid4()), {"n": n})
            await uow.commit()

    await asyncio.gather(*(append(n) for n in range(10)))
    async with PostgisIdentityUnitOfWork(
        engine, MemoryKeyring(), MemoryPersonalData(), MAINTENANCE
    ) as identity:
        check = await identity.audit.verify_chain()

    assert (check.entries, check.broken) == (10, None)
