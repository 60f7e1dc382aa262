"""Issue 7 §5: row-level security is a second wall. Raw SQL as the app role, with one caller set
the way the unit of work sets it, reaches only that caller's rows; with none set, no person's.

The rows are written by the owner (not subject to row-level security), for two customers, Ana
and Ben, who each booked at a different provider and have a session, a refresh token, TOTP,
recovery codes, a one-time token and audit entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import attrs
import pytest
import sqlalchemy as sa

from adapters.memory.keyring import MemoryKeyring
from adapters.memory.personal import MemoryPersonalData
from adapters.postgis import migrate
from adapters.postgis.bookings import PostgisBookingsUnitOfWork
from adapters.postgis.database import create_engine
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.postgis.unit_of_work import SET_CALLER, caller_settings
from core.shared.ids import BookingId, ProviderId, UserId
from core.shared.unit_of_work import PUBLIC, Access
from devservers.postgres import LocalDatabase, LocalPostgres

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
PERSONAL_TABLES = (
    "bookings", "users", "user_staff_roles", "auth_sessions", "refresh_tokens",
    "totp_credentials", "recovery_codes", "one_time_tokens", "audit_log", "audit_log_clients",
)  # fmt: skip


@attrs.frozen(kw_only=True)
class Person:
    user_id: UserId
    email_hash: str  # what the unit of work presents for an address: its keyed hash
    audit_id: uuid.UUID
    provider_id: ProviderId
    booking_id: BookingId
    session_id: uuid.UUID
    refresh_hash: str
    token_hash: str


@attrs.frozen(kw_only=True)
class World:
    database: LocalDatabase
    ana: Person
    ben: Person


def _person(owner: sa.Connection, name: str, hour: int) -> Person:
    ids = {key: uuid.uuid4() for key in ("user", "provider", "place", "resource", "offering",
                                          "booking", "session", "refresh", "token",
                                          "audit")}  # fmt: skip
    person = Person(
        user_id=UserId(ids["user"]),
        email_hash=f"hash-{name}",
        audit_id=ids["audit"],
        provider_id=ProviderId(ids["provider"]),
        booking_id=BookingId(ids["booking"]),
        session_id=ids["session"],
        refresh_hash=f"refresh-{name}",
        token_hash=f"token-{name}",
    )
    start = NOW + timedelta(hours=hour)
    values = {**{k: str(v) for k, v in ids.items()}, "name": name, "email": person.email_hash,
              "during": f"[{start.isoformat()},{(start + timedelta(hours=1)).isoformat()})",
              "now": NOW}  # fmt: skip
    for statement in _SEED:
        owner.execute(sa.text(statement), values)
    return person


_SEED = (
    "INSERT INTO users (id, email_sealed, email_hash, password_hash, created_at)"
    " VALUES (:user, decode('5e', 'hex'), :email, 'x', :now)",
    "INSERT INTO user_staff_roles VALUES (:user, :provider)",
    "INSERT INTO providers VALUES (:provider, :name)",
    "INSERT INTO places VALUES (:place, :provider, :name, '1 Rua', 'Lisbon', '1100', 'PT',"
    " 'POINT(-9.14 38.72)', 'Europe/Lisbon')",
    "INSERT INTO resources VALUES (:resource, :provider, :place, 'Court')",
    "INSERT INTO offerings VALUES (:offering, :provider, :place, 'appointment', 'Hour',"
    " 'tennis', 3000, 'EUR', '1 hour', '1 hour', '0', '0', '0', '30 days', 1)",
    "INSERT INTO bookings (id, offering_id, provider_id, customer_id, kind, during, blocked,"
    " resource_id, seats, price_minor, currency, status, created_at)"
    " VALUES (:booking, :offering, :provider, :user, 'appointment', CAST(:during AS tstzrange),"
    " CAST(:during AS tstzrange), :resource, 1, 3000, 'EUR', 'confirmed', :now)",
    "INSERT INTO auth_sessions (id, user_id, created_at, last_used_at, expires_at, aal, amr)"
    " VALUES (:session, :user, :now, :now, :now + interval '1 day', 'aal1', '{pwd}')",
    "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)"
    " VALUES (:refresh, :session, 'refresh-' || :name, :now, :now + interval '1 day')",
    "INSERT INTO totp_credentials (user_id, secret_sealed, created_at)"
    " VALUES (:user, decode('53', 'hex'), :now)",
    "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (:user, 'c', :now)",
    "INSERT INTO one_time_tokens (id, user_id, purpose, token_hash, created_at, expires_at)"
    " VALUES (:token, :user, 'password_reset', 'token-' || :name, :now, :now + interval '1 h')",
    "INSERT INTO audit_log (id, at, action, actor_user_id, subject_user_id, details)"
    " VALUES (:audit, :now, 'login.succeeded', :user, :user, '{}')",
    "INSERT INTO audit_log_clients (audit_id, at, ip_sealed)"
    " VALUES (:audit, :now, decode('5e', 'hex'))",
)


@pytest.fixture(scope="module")
def world(postgres_server: LocalPostgres) -> Iterator[World]:
    database = postgres_server.create_database(f"rls_{uuid.uuid4().hex[:12]}")
    migrate.upgrade(database.migrator_url)
    owner = sa.create_engine(database.migrator_url)
    with owner.begin() as connection:
        ana, ben = _person(connection, "ana", 1), _person(connection, "ben", 3)
    owner.dispose()
    return World(database=database, ana=ana, ben=ben)


@pytest.fixture
def app_role(world: World) -> Iterator[sa.Connection]:
    engine = sa.create_engine(world.database.app_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _as(connection: sa.Connection, access: Access) -> None:
    """What the unit of work sends with its BEGIN, here in this transaction."""
    connection.exec_driver_sql(SET_CALLER, caller_settings(access))


def _visible(connection: sa.Connection, table: str) -> int:
    return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def _owners(connection: sa.Connection, statement: str) -> set[uuid.UUID]:
    return set(connection.execute(sa.text(statement)).scalars())


def test_a_customer_sees_only_their_own_rows(world: World, app_role: sa.Connection) -> None:
    _as(app_role, Access.user(world.ana.user_id))
    ana = world.ana.user_id

    assert _owners(app_role, "SELECT customer_id FROM bookings") == {ana}
    assert _owners(app_role, "SELECT id FROM users") == {ana}
    assert _owners(app_role, "SELECT user_id FROM auth_sessions") == {ana}
    assert _owners(app_role, "SELECT session_id FROM refresh_tokens") == {world.ana.session_id}
    assert _owners(app_role, "SELECT user_id FROM totp_credentials") == {ana}
    assert _owners(app_role, "SELECT user_id FROM recovery_codes") == {ana}
    assert _owners(app_role, "SELECT user_id FROM one_time_tokens") == {ana}
    assert _owners(app_role, "SELECT actor_user_id FROM audit_log") == {ana}
    assert _owners(app_role, "SELECT audit_id FROM audit_log_clients") == {world.ana.audit_id}
    assert _owners(app_role, "SELECT user_id FROM user_staff_roles") == {ana}


def test_without_a_caller_no_personal_row_is_visible(app_role: sa.Connection) -> None:
    _as(app_role, PUBLIC)
    assert {table: _visible(app_role, table) for table in PERSONAL_TABLES} == dict.fromkeys(
        PERSONAL_TABLES, 0
    )


def test_without_any_setting_no_personal_row_is_visible(app_role: sa.Connection) -> None:
    assert {table: _visible(app_role, table) for table in PERSONAL_TABLES} == dict.fromkeys(
        PERSONAL_TABLES, 0
    )


def test_staff_see_their_providers_bookings_only(world: World, app_role: sa.Connection) -> None:
    _as(
        app_role,
        Access(user_id=UserId(uuid.uuid4()), provider_ids=frozenset({world.ben.provider_id})),
    )

    assert _owners(app_role, "SELECT id FROM bookings") == {world.ben.booking_id}


def test_an_admin_sees_every_row(app_role: sa.Connection) -> None:
    _as(app_role, Access(user_id=UserId(uuid.uuid4()), all_rows=True))

    assert all(_visible(app_role, table) >= 2 for table in PERSONAL_TABLES)


def test_a_presented_key_shows_only_the_rows_it_names(
    world: World, app_role: sa.Connection
) -> None:
    _as(app_role, Access.holding(world.ben.refresh_hash))
    by_refresh = (
        _owners(app_role, "SELECT id FROM auth_sessions"),
        _visible(app_role, "refresh_tokens"),
        _visible(app_role, "users"),
    )
    app_role.rollback()
    _as(app_role, Access.holding(world.ben.email_hash))
    by_email = (_owners(app_role, "SELECT id FROM users"), _visible(app_role, "auth_sessions"))

    assert by_refresh == ({world.ben.session_id}, 1, 0)
    assert by_email == ({world.ben.user_id}, 0)


def test_a_customer_can_neither_change_nor_create_anothers_booking(
    world: World, app_role: sa.Connection
) -> None:
    _as(app_role, Access.user(world.ana.user_id))
    changed = app_role.execute(
        sa.text("UPDATE bookings SET status = 'cancelled' WHERE id = :id"),
        {"id": world.ben.booking_id},
    ).rowcount
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        app_role.execute(
            sa.text(
                "INSERT INTO bookings SELECT gen_random_uuid(), offering_id, provider_id,"
                " :ben, kind, during, blocked, resource_id, occurrence_id, seats, price_minor,"
                " currency, 'cancelled', NULL, created_at, NULL FROM bookings WHERE id = :id"
            ),
            {"ben": world.ben.user_id, "id": world.ana.booking_id},
        )

    assert changed == 0


def test_availability_counts_everyones_bookings_but_not_who_booked(app_role: sa.Connection) -> None:
    _as(app_role, PUBLIC)
    columns = app_role.execute(sa.text("SELECT * FROM booking_occupancy LIMIT 0")).keys()

    assert _visible(app_role, "booking_occupancy") == 2
    assert "customer_id" not in columns
    assert "price_minor" not in columns


async def test_a_repository_asked_for_anothers_rows_finds_nothing(world: World) -> None:
    """The wall holds for the application's own queries: the repositories take any id."""
    engine = create_engine(world.database.app_url)
    ana = Access.user(world.ana.user_id)
    try:
        async with PostgisBookingsUnitOfWork(engine, ana) as uow:
            own = await uow.bookings.get(world.ana.booking_id)
            other = await uow.bookings.get(world.ben.booking_id)
        async with PostgisIdentityUnitOfWork(
            engine, MemoryKeyring(), MemoryPersonalData(), ana
        ) as identity:
            sessions = await identity.sessions.list_live(world.ben.user_id, NOW)
            totp = await identity.totp.get(world.ben.user_id)
            user = await identity.users.get(world.ben.user_id)
    finally:
        await engine.dispose()

    assert own is not None
    assert (other, sessions, totp, user) == (None, [], None, None)


# Columns that name whose row it is: a table holding one is a person's or a provider's.
OWNER_COLUMNS = ("user_id", "customer_id", "recipient_id", "provider_id", "owner")
PUBLIC_CATALOG = {"places", "offerings", "resources"}  # anyone may read them (ADR 15)


def test_every_table_that_names_a_person_or_a_provider_has_row_level_security(
    world: World,
) -> None:
    engine = sa.create_engine(world.database.migrator_url)
    try:
        with engine.connect() as owner:
            rows = owner.execute(
                sa.text(
                    "SELECT DISTINCT c.relname, c.relrowsecurity FROM pg_class c"
                    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                    " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
                    " AND a.attname = ANY(:columns)"
                ),
                {"columns": list(OWNER_COLUMNS)},
            ).all()
    finally:
        engine.dispose()

    assert len(rows) > 15  # bookings, identity, payments, messaging, media, integrations
    unsecured = {name for name, secured in rows if not secured}
    assert unsecured == PUBLIC_CATALOG
