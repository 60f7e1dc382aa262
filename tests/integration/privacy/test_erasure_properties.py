"""Hypothesis properties of erasure on the real stores (issue 10 §3, docs/adr/0027).

A generated world of 2 to 5 people, each with their own email address, IP address, user agent
and WhatsApp number, written the way the service writes them: registered and logged in through
identity's use cases (an account, a session and an audit entry carrying the IP address and user
agent), contact preferences with the number, an email and a WhatsApp message addressed to them,
a bounce of their address (ours and SendGrid's), a booking, a captured payment from their IP
address with its ledger transaction, and an export they asked for. Every store is the real one
over PostgreSQL, sealed by AesGcmPersonalData over the PostGIS key vault under the session's key
file, assembled as src/entrypoints/container.py assembles them (`personal_records`,
`erasure_records_before_shredding` / `_after_shredding`, `erasure_steps`, `RunErasure`);
messaging forgets at SendGrid through the real sender against the local messaging fake; live
sessions are the real Redis store.

One generated person is erased (sometimes with a crash after a generated step, then resumed),
and then a reader can check:
1. nothing in clear: a raw dump of every table (outbox, job queue and job failures included),
   the log lines written meanwhile, SendGrid's suppression lists and what the stores still
   export about them hold none of the erased person's email address, IP address, user agent
   or number, as typed or lower-cased;
2. everyone else unchanged: every other person's export equals the one taken before;
3. twice is once: erasing again changes no row and answers the same request;
4. the books balance: every ledger transaction sums to zero, and the erased person's payments,
   ledger rows and booking are still there with their amounts.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from privacy_support import insert_booking
from redis.asyncio import Redis
from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis.consent import PostgisConsentRecords
from adapters.postgis.identity.records import identity_records
from adapters.postgis.messaging import PostgisMessagingUnitOfWork
from adapters.postgis.messaging.records import PostgisMessagingRecords
from adapters.postgis.payments import PostgisPaymentsUnitOfWork
from adapters.postgis.payments.records import PostgisPaymentRecords
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.postgis.privacy import MediaRecords, PostgisBookingRecords, PostgisRightsUnitOfWork
from adapters.redis.sessions import RedisLiveSessions
from adapters.security.erasure_register import FileErasureRegister
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from adapters.security.personal import AesGcmPersonalData
from adapters.sendgrid import SendGridEmailSender
from core.consent import (
    BuildExport,
    ErasureStep,
    Json,
    PersonalRecords,
    RequestExport,
    RightsSettings,
    RunErasure,
    compile_export,
    erasure_steps,
)
from core.consent.rights import HEADER_KEYS
from core.identity import Login, Register
from core.identity.common import TokenPair
from core.identity.model import ClientContext
from core.messaging.model import Channel, ContactPreferences, Message, MessageId, MessageKind
from core.payments import ledger
from core.payments.model import Payment, PaymentId, PaymentPart, PaymentStatus
from core.payments.terms import CancellationPolicy, OfferingTerms, RefundTier
from core.shared.ids import BookingId, OfferingId, ProviderId, UserId
from core.shared.money import Money
from core.shared.unit_of_work import MAINTENANCE, Access
from identity_wiring import IdentityPorts, real_deps
from messaging_fake_support import SENDGRID_API_KEY, Messaging, fresh, shared_messaging
from raw_dump import raw_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
PASSWORD = "plum orbit lantern 77 quietly"
SCHEMA = json.loads((Path(__file__).parents[3] / "docs" / "privacy-export.schema.json").read_text())


# --- the people --------------------------------------------------------------------------


@attrs.frozen
class Values:
    """One person's personal values, as they typed them or their client sent them."""

    email: str
    ip: str
    user_agent: str
    phone: str

    def all(self) -> tuple[str, ...]:
        return (self.email, self.ip, self.user_agent, self.phone)


_local_parts = st.from_regex(r"[A-Za-z][A-Za-z0-9._+-]{4,14}[A-Za-z0-9]", fullmatch=True)
_emails = st.builds(
    lambda local, domain: f"{local}@{domain}",
    _local_parts,
    st.sampled_from(["example.org", "example.com", "mail.example.net"]),
)
# Documentation ranges, each form of one length (so no address is part of another).
_hex4 = st.integers(0x1000, 0xFFFF).map("{:x}".format)
_ips = st.builds("203.0.113.{}".format, st.integers(100, 254)) | st.builds(
    "2001:db8:{}:{}::{}".format, _hex4, _hex4, _hex4
)
_user_agents = st.builds(
    lambda product, major, token: f"{product}/{major}.0 ({token})",
    st.sampled_from(["Mozilla", "Firefox", "ReservaApp", "curl"]),
    st.integers(1, 140),
    st.text("abcdefghijklmnopqrstuvwxyzXYZ ;", min_size=6, max_size=20).map(str.strip),
)
_phones = st.builds(
    lambda country, rest: f"+{country}{rest}",
    st.sampled_from(["49", "351", "44", "1"]),
    st.from_regex(r"[1-9][0-9]{8,10}", fullmatch=True),
)
_values = st.builds(Values, email=_emails, ip=_ips, user_agent=_user_agents, phone=_phones)


def _distinct(people: list[Values]) -> bool:
    """No value of anyone is part of another value (so finding one names its owner)."""
    values = [v.lower() for person in people for v in person.all()]
    return not any(a in b for i, a in enumerate(values) for j, b in enumerate(values) if i != j)


people = st.lists(_values, min_size=2, max_size=5).filter(_distinct)


# --- the stores, as the container assembles them ----------------------------------------------


@attrs.frozen
class World:
    engine: AsyncEngine
    owner: AsyncEngine
    identity: IdentityPorts
    records: list[PersonalRecords]
    steps: tuple[ErasureStep, ...]
    personal: AesGcmPersonalData
    run_erasure: Callable[[Sequence[ErasureStep]], RunErasure]
    request_export: RequestExport
    build_export: BuildExport

    async def export(self, person: UserId) -> dict[str, Json]:
        return await compile_export(self.records, person, NOW)


def _world(
    engine: AsyncEngine,
    owner: AsyncEngine,
    keyring: AesGcmKeyring,
    register: FileErasureRegister,
    live_sessions: RedisLiveSessions,
    email: SendGridEmailSender,
) -> World:
    personal = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring, register)
    clock = FixedClock(NOW)

    identity = attrs.evolve(
        real_deps(engine, keyring, clock, personal=personal), live_sessions=live_sessions
    )
    # container.py: identity_records, booking_records, payments_records, messaging_records,
    # consent_records, media_records; the erasure's order as erasure_records_* name it.
    identity_sections = identity_records(identity.uow, personal, live_sessions)
    bookings = PostgisBookingRecords(engine)
    payments = PostgisPaymentRecords(engine, personal)
    messaging = PostgisMessagingRecords(engine, personal, email)
    consent = PostgisConsentRecords(engine)
    media = MediaRecords()
    records = [*identity_sections, bookings, payments, messaging, consent, media]
    steps = erasure_steps(
        before_shredding=[messaging, media],
        personal_data=personal,
        after_shredding=[identity_sections[0], bookings, payments, consent],
    )

    def rights_uow(access: Access) -> PostgisRightsUnitOfWork:
        return PostgisRightsUnitOfWork(engine, personal, access)

    def run_erasure(with_steps: Sequence[ErasureStep]) -> RunErasure:
        return RunErasure(uow=rights_uow, clock=clock, steps=with_steps)

    return World(
        engine=engine,
        owner=owner,
        identity=identity,
        records=records,
        steps=steps,
        personal=personal,
        run_erasure=run_erasure,
        request_export=RequestExport(uow=rights_uow, clock=clock),
        build_export=BuildExport(
            uow=rights_uow, clock=clock, settings=RightsSettings(), records=records
        ),
    )


# --- writing a person, the way the service does --------------------------------------------


async def _register(world: World, values: Values) -> UserId:
    """An account, a session and an audit entry with the client's IP address and user agent."""
    assert await world.identity(Register)(email=values.email, password=PASSWORD) == Success(None)
    client = ClientContext(ip=values.ip, user_agent=values.user_agent)
    pair = await world.identity(Login)(email=values.email, password=PASSWORD, client=client)
    tokens = pair.unwrap()
    assert isinstance(tokens, TokenPair)
    return tokens.access.claims.user_id


def _eur(minor: int) -> Money:
    return Money.of(minor, "EUR").unwrap()


def _captured_payment(
    person: UserId, booking: BookingId, provider: ProviderId, ip: str, minor: int
) -> Payment:
    id = PaymentId(uuid.uuid4())
    policy = CancellationPolicy.of((RefundTier(notice=timedelta(days=1), percent=100),))
    return Payment(
        id=id,
        booking_id=booking,
        customer_id=person,
        provider_id=provider,
        part=PaymentPart.FULL,
        amount=_eur(minor),
        commission=_eur(minor // 10),
        terms=OfferingTerms(
            offering_id=OfferingId(uuid.uuid4()),
            version=1,
            policy=policy.unwrap(),
            deposit=None,
            effective_from=NOW,
        ),
        status=PaymentStatus.SUCCEEDED,
        idempotency_key=f"pay-{id}",
        intent_id=f"pi_{id.hex}",
        charge_id=f"ch_{id.hex}",
        processor_account="acct_provider",
        captured=_eur(minor),
        refunded=_eur(0),
        client_ip=ip,
        created_at=NOW,
        updated_at=NOW,
    )


async def _pay(world: World, paid: Payment) -> None:
    async with PostgisPaymentsUnitOfWork(world.engine, MAINTENANCE, personal=world.personal) as uow:
        assert await uow.payments.add(paid)
        assert await uow.ledger.post(ledger.capture(paid, NOW))
        await uow.commit()


def _message(person: UserId, booking: BookingId, channel: Channel, address: str) -> Message:
    return Message(
        id=MessageId(uuid.uuid4()),
        dedupe_key=f"event:{uuid.uuid4()}:{channel.value}:{person}",
        kind=MessageKind.BOOKING_CONFIRMED,
        channel=channel,
        recipient_id=person,
        address=address,
        locale="en",
        booking_id=booking,
        created_at=NOW,
        updated_at=NOW,
    )


async def _contact(world: World, person: UserId, booking: BookingId, values: Values) -> None:
    """Their WhatsApp number, an email and a WhatsApp message, and a bounce of their address."""
    uow = PostgisMessagingUnitOfWork(world.engine, MAINTENANCE, personal=world.personal)
    async with uow:
        await uow.preferences.put(
            ContactPreferences(user_id=person, phone=values.phone, whatsapp_opt_in_at=NOW)
        )
        await uow.messages.add(_message(person, booking, Channel.EMAIL, values.email))
        await uow.messages.add(_message(person, booking, Channel.WHATSAPP, values.phone))
        await uow.undeliverable.mark(values.email, "550 5.1.1 no such user", NOW)
        await uow.windows.opened(values.phone, NOW)
        await uow.commit()


async def _export_built(world: World, person: UserId) -> None:
    """An export they asked for, built by the job and kept (sealed) for a day."""
    export = (await world.request_export(person)).unwrap()
    assert isinstance(await world.build_export(export.id), Success)


async def _populate(world: World, people: list[Values], messaging: Messaging) -> list[UserId]:
    persons = []
    for index, values in enumerate(people):
        person = await _register(world, values)
        booking, provider = await insert_booking(world.owner, person, NOW, index)
        await _pay(world, _captured_payment(person, booking, provider, values.ip, 1000 + index))
        await _contact(world, person, booking, values)
        messaging.fake.control.suppress("bounces", values.email)
        await _export_built(world, person)
        persons.append(person)
    return persons


# --- what a reader checks ------------------------------------------------------------------


def _found(values: Values, text: str) -> list[str]:
    lowered = text.lower()
    return [v for v in values.all() if v in text or v.lower() in lowered]


async def _books(owner: AsyncEngine, person: UserId) -> tuple[list[object], list[object]]:
    """The person's payments (amounts) and ledger entries, and every unbalanced transaction."""
    async with owner.connect() as connection:
        payments = (
            await connection.execute(
                sa.text(
                    "SELECT p.id, p.amount_minor, p.captured_minor, p.currency, e.account,"
                    " e.minor FROM payments p JOIN ledger_transactions t ON t.payment_id = p.id"
                    " JOIN ledger_entries e ON e.transaction_id = t.id"
                    " WHERE p.customer_id = :p ORDER BY p.id, e.position"
                ),
                {"p": person},
            )
        ).all()
        unbalanced = (
            await connection.execute(
                sa.text(
                    "SELECT transaction_id, currency, sum(minor) FROM ledger_entries"
                    " GROUP BY transaction_id, currency HAVING sum(minor) <> 0"
                )
            )
        ).all()
    return list(payments), list(unbalanced)


async def _bookings_of(owner: AsyncEngine, person: UserId) -> list[object]:
    async with owner.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT id, price_minor, status FROM bookings WHERE customer_id = :p"),
            {"p": person},
        )
        return list(rows.all())


def _capture_every_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG, without production's last-line redaction: what is found is what
    our code and its libraries wrote."""
    caplog.set_level(logging.DEBUG)
    caplog.clear()


class Crash(Exception):
    """The process dies right after a step did its work, before it was recorded."""


def _crashing_after(steps: tuple[ErasureStep, ...], index: int) -> tuple[ErasureStep, ...]:
    """`steps` where the one at `index` crashes once, right after doing its work."""
    step, crashes = steps[index], [Crash()]

    async def run(person: UserId) -> None:
        await step.run(person)
        if crashes:
            raise crashes.pop()

    return (*steps[:index], ErasureStep(name=step.name, run=run), *steps[index + 1 :])


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_messaging(pytestconfig: pytest.Config) -> Messaging:
    return shared_messaging(pytestconfig)


@pytest.fixture
async def live_sessions(redis_url: str) -> AsyncIterator[RedisLiveSessions]:
    client = Redis.from_url(redis_url)
    yield RedisLiveSessions(client)
    await client.aclose()


@pytest.fixture
def make_world(
    engine: AsyncEngine,
    owner_engine: AsyncEngine,
    kek_file: Path,
    tmp_path: Path,
    live_sessions: RedisLiveSessions,
    session_messaging: Messaging,
    empty_database: Callable[[], Awaitable[None]],
) -> Callable[[], Awaitable[World]]:
    """A fresh world per Hypothesis example: emptied tables and fake, new stores."""
    keyring = AesGcmKeyring(FileKeyStore(kek_file))
    register = FileErasureRegister.beside(tmp_path / "kek.json")
    email = SendGridEmailSender(
        SENDGRID_API_KEY, "bookings@reserva.test", base_url=session_messaging.fake.base_url
    )

    async def make() -> World:
        await empty_database()
        fresh(session_messaging)
        return _world(engine, owner_engine, keyring, register, live_sessions, email)

    return make


# --- the property --------------------------------------------------------------------------


@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # an example takes ~1 s: no shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=people, data=st.data())
async def test_erasing_anyone_leaves_nothing_in_clear_and_everything_else_as_it_was(
    people: list[Values],
    data: st.DataObject,
    make_world: Callable[[], Awaitable[World]],
    session_messaging: Messaging,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _capture_every_log_line(caplog)
    world = await make_world()
    sections = {store.section for store in world.records}
    assert sections == set(SCHEMA["properties"]) - HEADER_KEYS  # every context's records
    persons = await _populate(world, people, session_messaging)
    index = data.draw(st.integers(0, len(persons) - 1), label="erased")
    victim, erased = persons[index], people[index]
    others = [p for p in persons if p != victim]
    exported = await world.export(victim)
    assert erased.email in json.dumps(exported)  # the world holds the values: they can go
    before = {p: await world.export(p) for p in others}
    books_before, _ = await _books(world.owner, victim)
    bookings_before = await _bookings_of(world.owner, victim)

    crash_after = data.draw(st.none() | st.integers(0, len(world.steps) - 1), label="crash")
    if crash_after is not None:
        with pytest.raises(Crash):
            await world.run_erasure(_crashing_after(world.steps, crash_after))(victim)
    done = (await world.run_erasure(world.steps)(victim)).unwrap()
    assert done.completed

    # 1. nothing in clear: tables, outbox, job queue, logs, SendGrid's lists
    dump = await raw_database(world.owner)
    for table in ("outbox", "procrastinate_jobs", "payments", "ledger_entries", "audit_log"):
        assert f"\n{table}: " in f"\n{dump}", table  # the dump reaches them
    assert _found(erased, dump) == []
    assert _found(erased, caplog.text) == []
    suppressed = json.dumps(session_messaging.fake.control.suppressions())
    assert _found(erased, suppressed) == []
    assert _found(erased, json.dumps(await world.export(victim))) == []  # nothing opens
    # 2. everyone else unchanged
    assert {p: await world.export(p) for p in others} == before
    # 3. twice is once
    again = (await world.run_erasure(world.steps)(victim)).unwrap()
    assert again == done
    assert await raw_database(world.owner) == dump
    # 4. the books balance; the erased person's payments, ledger and booking stay
    books_after, unbalanced = await _books(world.owner, victim)
    assert unbalanced == []
    assert books_after == books_before
    assert await _bookings_of(world.owner, victim) == bookings_before
