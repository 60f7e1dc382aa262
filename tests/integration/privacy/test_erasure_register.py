"""A database restored from a backup taken before an erasure gets the person's key back; the
register beside the key file shreds it again (`reapply_erasures`)."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.keyring import MemoryKeyring
from adapters.postgis.personal import PostgisPersonKeyVault, person_keys
from adapters.security.erasure_register import FileErasureRegister
from adapters.security.personal import AesGcmPersonalData

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_reapplying_the_register_shreds_keys_a_restore_brought_back(
    engine: AsyncEngine, owner_engine: AsyncEngine, tmp_path: Path
) -> None:
    register = FileErasureRegister.beside(tmp_path / "kek.json")
    personal = AesGcmPersonalData(
        PostgisPersonKeyVault(engine), MemoryKeyring(), register, cache_seconds=0
    )
    ana, bea = uuid.uuid4(), uuid.uuid4()
    ana_email = await personal.seal(ana, "ana@example.org", field="f")
    bea_email = await personal.seal(bea, "bea@example.org", field="f")
    async with owner_engine.connect() as connection:  # the nightly backup, before the erasure
        backup = (await connection.execute(sa.select(person_keys))).mappings().all()

    await personal.shred(ana)
    async with owner_engine.begin() as connection:  # restore the backup
        await connection.execute(sa.delete(person_keys))
        await connection.execute(sa.insert(person_keys), [dict(row) for row in backup])
    assert await personal.open(ana, ana_email, field="f") == "ana@example.org"

    assert await personal.reapply_erasures() == 1
    assert await personal.open(ana, ana_email, field="f") is None
    assert await personal.open(bea, bea_email, field="f") == "bea@example.org"
    assert await personal.reapply_erasures() == 0
    assert await register.people() == [ana]
    assert stat.S_IMODE((tmp_path / "kek.json.erasures").stat().st_mode) == 0o600
