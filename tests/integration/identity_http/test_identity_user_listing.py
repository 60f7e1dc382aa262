"""`UserRepository.list_by_email` (added for `reserva users list`): the same pages from the
memory fake and from PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from adapters.memory.identity import MemoryIdentityStore
from adapters.postgis.database import create_engine
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from core.identity.model import Email, User
from core.identity.ports import IdentityUnitOfWork
from core.shared.ids import ProviderId, UserId
from core.shared.unit_of_work import MAINTENANCE, UnitOfWorkFactory

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest_asyncio.fixture(params=["memory", "postgis"])
async def uow(
    request: pytest.FixtureRequest, identity_http_database: str, kek_file: Path
) -> AsyncIterator[UnitOfWorkFactory[IdentityUnitOfWork]]:
    if request.param == "memory":
        yield MemoryIdentityStore().uow
        return
    engine = create_engine(identity_http_database)
    yield PostgisIdentityUnitOfWork.factory(engine, AesGcmKeyring(FileKeyStore(kek_file)))
    await engine.dispose()


def _user(email: str, staff_of: frozenset[ProviderId] = frozenset()) -> User:
    return User(
        id=UserId(uuid.uuid4()),
        email=Email(value=email),
        password_hash="not-a-hash",
        created_at=NOW,
        staff_of=staff_of,
    )


async def test_users_come_in_pages_by_email_with_their_staff_roles(
    uow: UnitOfWorkFactory[IdentityUnitOfWork],
) -> None:
    prefix = f"list-{uuid.uuid4().hex[:8]}"
    provider = ProviderId(uuid.uuid4())
    # Stored in another order, and with a capital: pages follow the lowercased key.
    users = [
        _user(f"{prefix}-c@example.com"),
        _user(f"{prefix}-A@example.com", frozenset({provider})),
        _user(f"{prefix}-b@example.com"),
    ]
    async with uow(MAINTENANCE) as unit:
        for user in users:
            assert await unit.users.add(user)
        await unit.commit()

    async with uow(MAINTENANCE) as unit:
        first = await unit.users.list_by_email(after=prefix, limit=2)
        second = await unit.users.list_by_email(after=first[-1].email.key, limit=2)

    assert [u.email.value for u in first] == [f"{prefix}-A@example.com", f"{prefix}-b@example.com"]
    assert first[0].staff_of == {provider}
    assert first[1].staff_of == frozenset()
    assert [u.email.value for u in second][:1] == [f"{prefix}-c@example.com"]
