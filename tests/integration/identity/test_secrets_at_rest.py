"""A copy of the database reveals no secret: the raw rows after registration, a reset request,
TOTP enrolment and signing-key creation hold no TOTP secret, private key or one-time token; and
a KEK rotation re-wraps everything while reads go on."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from identity_integration_support import START
from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.postgis.sealed import PostgisSealedSecrets
from adapters.security.keyring import AesGcmKeyring, FileKeyStore
from adapters.security.totp import PyotpTotpGenerator
from core.identity import (
    BeginTotpEnrolment,
    ClientContext,
    ConfirmTotpEnrolment,
    Email,
    Login,
    Register,
    RequestPasswordReset,
    RotateKeyEncryptionKey,
    RotateSigningKey,
    open_mailed_token,
)
from core.identity.common import TokenPair
from core.identity.model import SigningKey, TotpCredential, User
from core.identity.ports import IdentityUnitOfWork
from core.shared.events import Event
from core.shared.ids import UserId
from core.shared.keyring import SealBroken, Sealed
from core.shared.unit_of_work import MAINTENANCE
from identity_wiring import IdentityPorts, operator, real_deps
from raw_dump import raw_database

CLIENT = ClientContext(ip="198.51.100.10", user_agent="at-rest")
PASSWORD = "correct horse battery staple"


async def _mail_events(engine: AsyncEngine) -> list[Event]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.text("SELECT name, occurred_at, payload FROM outbox"))
        return [Event(name=n, occurred_at=at, payload=p) for n, at, p in rows if "user_id" in p]


def _secret_forms(text: str, raw: bytes) -> list[str]:
    """How a secret would show in a row: as text, or as bytes in bytea's hex output."""
    return [text, raw.hex()]


async def test_no_secret_appears_in_the_raw_rows(
    pg_deps: IdentityPorts, owner_engine: AsyncEngine, clock: FixedClock
) -> None:
    email = "dump@example.org"
    assert await pg_deps(Register)(email=email, password=PASSWORD) == Success(None)
    assert await pg_deps(RequestPasswordReset)(email=email) == Success(None)
    pair = (await pg_deps(Login)(email=email, password=PASSWORD, client=CLIENT)).unwrap()
    assert isinstance(pair, TokenPair)
    user_id = pair.access.claims.user_id
    enrolment = (await pg_deps(BeginTotpEnrolment)(user_id=user_id)).unwrap()
    code = PyotpTotpGenerator().code_at(enrolment.secret, clock.now())
    confirmed = await pg_deps(ConfirmTotpEnrolment)(
        user_id=user_id, session_id=pair.session_id, code=code, client=CLIENT
    )
    assert isinstance(confirmed, Success)
    caller = await operator(pg_deps)
    assert isinstance(await pg_deps(RotateSigningKey)(caller=caller, client=CLIENT), Success)

    async with pg_deps.uow(MAINTENANCE) as uow:
        keys = await uow.signing_keys.verifying(clock.now() - timedelta(days=1))
    tokens = [await open_mailed_token(pg_deps.keyring, e) for e in await _mail_events(owner_engine)]
    forbidden = _secret_forms(enrolment.secret, base64.b32decode(enrolment.secret))
    for key in keys:
        private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
        raw = private.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        pem_body = "".join(key.private_pem.splitlines()[1:-1])
        forbidden += [pem_body, raw.hex(), base64.b64encode(raw).decode()]
    forbidden += [token for token in tokens]
    dump = await raw_database(owner_engine)

    assert len(keys) == 2
    assert len(tokens) == 2  # verification and reset mails
    assert "PRIVATE KEY" not in dump
    assert [secret for secret in forbidden if secret in dump] == []
    assert "signing_keys:" in dump  # the rows are there
    assert "totp_credentials:" in dump


async def test_a_sealed_secret_does_not_open_in_another_row(
    pg_deps: IdentityPorts, owner_engine: AsyncEngine
) -> None:
    """Copying one user's sealed TOTP secret onto another's row gives the attacker nothing."""
    first, second = await _users(pg_deps, 2)
    async with pg_deps.uow(MAINTENANCE) as uow:
        for user_id, secret in [(first, "JBSWY3DPEHPK3PXP"), (second, "KRSXG5CTMVRXEZLU")]:
            await uow.totp.save(TotpCredential(user_id=user_id, secret=secret, created_at=START))
        await uow.commit()
    async with owner_engine.begin() as connection:
        await connection.execute(
            sa.text(
                "UPDATE totp_credentials SET secret_sealed = "
                "(SELECT secret_sealed FROM totp_credentials WHERE user_id = :first) "
                "WHERE user_id = :second"
            ),
            {"first": first, "second": second},
        )

    async with pg_deps.uow(MAINTENANCE) as uow:
        assert await uow.totp.get(first) is not None
        with pytest.raises(SealBroken):
            await uow.totp.get(second)


async def _users(deps: IdentityPorts, count: int) -> list[UserId]:
    users = [
        User(
            id=UserId(uuid.uuid4()),
            email=Email(value=f"u{n}-{uuid.uuid4().hex[:8]}@example.org"),
            password_hash="not-a-hash",
            created_at=START,
        )
        for n in range(count)
    ]
    async with deps.uow(MAINTENANCE) as uow:
        for user in users:
            assert await uow.users.add(user)
        await uow.commit()
    return [user.id for user in users]


async def _signing_keys(uow: IdentityUnitOfWork, clock: FixedClock) -> list[SigningKey]:
    """Every verifying key, by kid (three retired in the same instant have no other order)."""
    keys = await uow.signing_keys.verifying(clock.now() - timedelta(days=1))
    return sorted(keys, key=lambda key: key.kid)


async def _kek_ids(engine: AsyncEngine) -> set[str]:
    """The KEK each sealed value in the database names."""
    async with engine.connect() as connection:
        blobs = [
            *(await connection.execute(sa.text("SELECT secret_sealed FROM totp_credentials"))),
            *(await connection.execute(sa.text("SELECT private_key_sealed FROM signing_keys"))),
        ]
        tokens = await connection.execute(
            sa.text("SELECT payload->>'sealed_token' FROM outbox WHERE payload ? 'sealed_token'")
        )
    sealed = [Sealed.from_bytes(bytes(blob)) for (blob,) in blobs]
    sealed += [Sealed.from_bytes(base64.b64decode(token)) for (token,) in tokens]
    return {s.kek_id for s in sealed}


async def test_rotating_the_kek_rewraps_everything_while_reads_go_on(
    clean_engine: AsyncEngine, owner_engine: AsyncEngine, clock: FixedClock, tmp_path: Path
) -> None:
    key_file = tmp_path / "kek.json"
    FileKeyStore.create(key_file)
    # A running server's keyring, loaded before the rotation, and the operator's.
    server = real_deps(clean_engine, AesGcmKeyring(FileKeyStore(key_file)), clock)
    operator_store = FileKeyStore(key_file)
    old_kek = await operator_store.active()
    user_ids = await _users(server, 40)
    secrets = {user_id: base64.b32encode(uuid.uuid4().bytes).decode() for user_id in user_ids}
    async with server.uow(MAINTENANCE) as uow:
        for user_id, secret in secrets.items():
            await uow.totp.save(TotpCredential(user_id=user_id, secret=secret, created_at=START))
        await uow.commit()
    caller = await operator(server)
    for _ in range(3):  # one active signing key and three retired ones
        assert isinstance(await server(RotateSigningKey)(caller=caller, client=CLIENT), Success)
    await server(Register)(email="rotation@example.org", password=PASSWORD)
    async with server.uow(MAINTENANCE) as uow:
        keys_before = await _signing_keys(uow, clock)
    mails = await _mail_events(owner_engine)
    tokens_before = [await open_mailed_token(server.keyring, mail) for mail in mails]
    assert await _kek_ids(owner_engine) == {old_kek}

    rotation = RotateKeyEncryptionKey(
        uow=server.uow,
        clock=clock,
        key_store=operator_store,
        sealed_secrets=PostgisSealedSecrets(clean_engine, AesGcmKeyring(operator_store), batch=7),
    )
    rotating = asyncio.create_task(rotation(caller=caller, client=CLIENT))
    reads, seen = 0, []  # the KEKs the rows named at each round of reads
    while not rotating.done() or reads == 0:
        seen.append(await _kek_ids(owner_engine))
        async with server.uow(MAINTENANCE) as uow:
            for user_id, secret in secrets.items():
                credential = await uow.totp.get(user_id)
                assert credential is not None
                assert credential.secret == secret
            assert await _signing_keys(uow, clock) == keys_before
        reads += 1
        await asyncio.sleep(0)
    rotated = rotating.result().unwrap()

    # ... and the data keys of every person who has one, and the key of lookup hashes.
    persons = len(user_ids) + 2  # the operator and the registered user
    assert rotated.rewrapped == (len(secrets) + len(keys_before) + len(tokens_before) + persons + 1)
    assert rotated.kek_id != old_kek
    assert await _kek_ids(owner_engine) == {rotated.kek_id}
    assert {old_kek, rotated.kek_id} in seen  # some reads ran halfway through the re-wrap
    # The server reads everything back, and seals new values under the new KEK.
    async with server.uow(MAINTENANCE) as uow:
        read_back = {u: await uow.totp.get(u) for u in secrets}
        assert {u: c.secret if c else None for u, c in read_back.items()} == secrets
        assert await _signing_keys(uow, clock) == keys_before
    after = [await open_mailed_token(server.keyring, m) for m in await _mail_events(owner_engine)]
    assert after == tokens_before
    assert (await server.keyring.seal(b"new", purpose="test")).kek_id == rotated.kek_id
