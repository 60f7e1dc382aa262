"""`UserRepository.list_by_email` (added for `reserva users list`): complete pages, each
starting after the address that ended the previous one, from the memory fake (alphabetical) and
from PostgreSQL (in the order of the addresses' keyed hashes: the addresses are sealed)."""

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
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from adapters.security.personal import AesGcmPersonalData
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
    keyring = AesGcmKeyring(FileKeyStore(kek_file))
    personal = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring)
    yield PostgisIdentityUnitOfWork.factory(engine, keyring, personal)
    await engine.dispose()


def _user(email: str, staff_of: frozenset[ProviderId] = frozenset()) -> User:
    return User(
        id=UserId(uuid.uuid4()),
        email=Email(value=email),
        password_hash="not-a-hash",
        created_at=NOW,
        staff_of=staff_of,
    )


async def test_users_come_in_pages_after_the_last_address_with_their_staff_roles(
    uow: UnitOfWorkFactory[IdentityUnitOfWork],
) -> None:
    prefix = f"list-{uuid.uuid4().hex[:8]}"
    provider = ProviderId(uuid.uuid4())
    # With a capital: pages follow the lowercased address.
    users = [
        _user(f"{prefix}-c@example.com"),
        _user(f"{prefix}-A@example.com", frozenset({provider})),
        _user(f"{prefix}-b@example.com"),
    ]
    async with uow(MAINTENANCE) as unit:
        for user in users:
            assert await unit.users.add(user)
        await unit.commit()

    pages: list[list[User]] = []
    after: str | None = None
    async with uow(MAINTENANCE) as unit:
        while page := list(await unit.users.list_by_email(after=after, limit=2)):
            pages.append(page)
            after = page[-1].email.key
    seen = [user for page in pages for user in page if user.email.value.startswith(prefix)]

    assert all(len(page) <= 2 for page in pages)
    assert sorted(u.email.value for u in seen) == sorted(u.email.value for u in users)
    assert len({u.id for page in pages for u in page}) == sum(map(len, pages))  # no repeats
    staff = {u.email.value: u.staff_of for u in seen}
    assert staff[f"{prefix}-A@example.com"] == {provider}
    assert staff[f"{prefix}-b@example.com"] == frozenset()
