"""The `PersonalData` contract, on the in-memory fake and on AES-256-GCM with person keys in
PostgreSQL: a value opens for its person and field only, a shred makes every copy unreadable
and refuses new seals, lookups are keyed, and a KEK rotation keeps everything readable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.keyring import MemoryKeyring
from adapters.memory.personal import MemoryPersonalData
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.postgis.sealed import PostgisSealedSecrets
from adapters.security.personal import AesGcmPersonalData
from core.shared.keyring import SealBroken
from core.shared.personal import PersonalData, PersonErased
from raw_dump import raw_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

EMAIL = "ana.lima@example.org"


@pytest.fixture(params=["memory", "postgis"])
async def personal(
    request: pytest.FixtureRequest, engine: AsyncEngine
) -> AsyncIterator[PersonalData]:
    if request.param == "memory":
        yield MemoryPersonalData()
    else:
        yield AesGcmPersonalData(PostgisPersonKeyVault(engine), MemoryKeyring())


async def test_a_value_opens_for_its_person_and_field_only(personal: PersonalData) -> None:
    ana, bea = uuid.uuid4(), uuid.uuid4()
    blob = await personal.seal(ana, EMAIL, field="identity.email")
    assert EMAIL.encode() not in blob
    assert await personal.open(ana, blob, field="identity.email") == EMAIL
    await personal.seal(bea, "x", field="identity.email")  # bea has a key of her own
    with pytest.raises(SealBroken):
        await personal.open(bea, blob, field="identity.email")
    with pytest.raises(SealBroken):
        await personal.open(ana, blob, field="identity.phone")


async def test_a_shred_makes_every_copy_unreadable_and_refuses_new_seals(
    personal: PersonalData,
) -> None:
    ana, bea = uuid.uuid4(), uuid.uuid4()
    blobs = [await personal.seal(ana, f"{EMAIL}#{i}", field="f") for i in range(3)]
    kept = await personal.seal(bea, "Bea", field="f")
    assert await personal.shred(ana) is True
    assert [await personal.open(ana, blob, field="f") for blob in blobs] == [None] * 3
    assert await personal.is_erased(ana)
    assert not await personal.is_erased(bea)
    assert await personal.open(bea, kept, field="f") == "Bea"
    with pytest.raises(PersonErased):
        await personal.seal(ana, EMAIL, field="f")
    assert await personal.shred(ana) is False  # idempotent


async def test_lookup_hashes_are_equal_for_equal_values_and_hide_them(
    personal: PersonalData,
) -> None:
    first = await personal.lookup_hash(EMAIL, field="identity.email")
    assert first == await personal.lookup_hash(EMAIL, field="identity.email")
    assert first != await personal.lookup_hash(EMAIL, field="messaging.address")
    assert first != await personal.lookup_hash("bea@example.org", field="identity.email")
    assert EMAIL not in first


async def test_concurrent_first_seals_share_one_key_and_a_dump_holds_no_plaintext(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    keyring = MemoryKeyring()
    writers = [AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring) for _ in range(20)]
    ana = uuid.uuid4()
    blobs = await asyncio.gather(*(w.seal(ana, EMAIL, field="f") for w in writers))
    reader = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring)
    assert {await reader.open(ana, blob, field="f") for blob in blobs} == {EMAIL}
    assert EMAIL not in await raw_database(owner_engine)


async def test_a_shred_racing_first_seals_never_leaves_a_usable_key(engine: AsyncEngine) -> None:
    keyring = MemoryKeyring()
    ana = uuid.uuid4()

    async def seal() -> bytes | None:
        try:
            return await AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring).seal(
                ana, EMAIL, field="f"
            )
        except PersonErased:
            return None

    shredder = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring)
    results = await asyncio.gather(*(seal() for _ in range(10)), shredder.shred(ana))
    reader = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring, cache_seconds=0)
    for blob in results[:-1]:
        if isinstance(blob, bytes):
            assert await reader.open(ana, blob, field="f") is None
    assert await reader.is_erased(ana)


async def test_kek_rotation_under_load_rewraps_person_keys_and_everything_reads_back(
    engine: AsyncEngine,
) -> None:
    keyring = MemoryKeyring()
    personal = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring, cache_seconds=0)
    people = [uuid.uuid4() for _ in range(40)]
    blobs = {p: await personal.seal(p, f"{p}@example.org", field="f") for p in people}
    before = await personal.lookup_hash(EMAIL, field="f")
    old_kek = await keyring.active()
    await keyring.rotate()

    async def traffic() -> dict[uuid.UUID, bytes]:
        """New people sealed and old ones read while the sweep runs."""
        written = {}
        for index in range(30):
            newcomer = uuid.uuid4()
            written[newcomer] = await personal.seal(newcomer, f"{newcomer}@example.org", field="f")
            old = people[index % len(people)]
            assert await personal.open(old, blobs[old], field="f") == f"{old}@example.org"
        return written

    load = asyncio.create_task(traffic())
    rewrapped = await PostgisSealedSecrets(engine, keyring, batch=5).rewrap_all()
    blobs |= await load
    assert rewrapped == len(people) + 1  # the old person keys and the lookup key
    assert await PostgisSealedSecrets(engine, keyring, batch=5).rewrap_all() == 0
    keyring._keys.pop(old_kek)  # the old KEK is gone: only re-wrapped keys still open
    fresh = AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring, cache_seconds=0)
    assert {p: await fresh.open(p, b, field="f") for p, b in blobs.items()} == {
        p: f"{p}@example.org" for p in blobs
    }
    assert await fresh.lookup_hash(EMAIL, field="f") == before
