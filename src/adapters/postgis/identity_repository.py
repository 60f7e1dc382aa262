"""The identity unit of work on PostgreSQL: async SQLAlchemy Core over psycopg 3.

One connection and one transaction per unit of work; outbox rows go into the same transaction.
Single-use things (tokens, recovery codes, TOTP steps) are consumed with conditional UPDATEs,
so concurrent requests cannot both win; refresh and revocation serialise on the session row
(SELECT ... FOR UPDATE).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.identity_tables import (
    audit_log,
    auth_sessions,
    one_time_tokens,
    recovery_codes,
    refresh_tokens,
    signing_keys,
    totp_credentials,
    user_staff_roles,
    users,
)
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.identity.model import (
    Aal,
    AuditAction,
    AuditEntry,
    AuditEntryId,
    AuditQuery,
    Email,
    OneTimeToken,
    OneTimeTokenId,
    RefreshToken,
    RefreshTokenId,
    Session,
    SessionId,
    SigningKey,
    TokenPurpose,
    TotpCredential,
    User,
)
from core.identity.ports import (
    AuditLog,
    IdentityUnitOfWork,
    OneTimeTokenRepository,
    RecoveryCodeRepository,
    RefreshTokenRepository,
    SessionRepository,
    SigningKeyRepository,
    TotpRepository,
    UserRepository,
)
from core.shared.ids import ProviderId, UserId
from core.shared.time import to_utc


def _utc(value: datetime | None) -> datetime | None:
    return to_utc(value) if value is not None else None


class PostgisIdentityUnitOfWork(PostgisUnitOfWork, IdentityUnitOfWork):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.users = PostgisUserRepository(self)
        self.one_time_tokens = PostgisOneTimeTokenRepository(self)
        self.sessions = PostgisSessionRepository(self)
        self.refresh_tokens = PostgisRefreshTokenRepository(self)
        self.totp = PostgisTotpRepository(self)
        self.recovery_codes = PostgisRecoveryCodeRepository(self)
        self.signing_keys = PostgisSigningKeyRepository(self)
        self.audit = PostgisAuditLog(self)


class _Part(PostgisPart):
    async def _run(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        return await self._conn.execute(statement)


# --- users -----------------------------------------------------------------------------------


def _user_values(user: User) -> dict[str, Any]:
    return {
        "email": user.email.value,
        "email_key": user.email.key,
        "password_hash": user.password_hash,
        "email_verified_at": user.email_verified_at,
        "is_admin": user.is_admin,
        "locked_at": user.locked_at,
    }


class PostgisUserRepository(_Part, UserRepository):
    async def add(self, user: User) -> bool:
        inserted = await self._run(
            insert(users)
            .values(id=user.id, created_at=user.created_at, **_user_values(user))
            .on_conflict_do_nothing(index_elements=[users.c.email_key])
            .returning(users.c.id)
        )
        if inserted.first() is None:
            return False
        await self._save_staff_roles(user)
        return True

    async def get(self, user_id: UserId, *, lock: bool = False) -> User | None:
        query = sa.select(users).where(users.c.id == user_id)
        return await self._one(query.with_for_update() if lock else query)

    async def by_email_key(self, email_key: str) -> User | None:
        return await self._one(sa.select(users).where(users.c.email_key == email_key))

    async def list_by_email(self, *, after: str | None, limit: int) -> Sequence[User]:
        key = users.c.email_key.collate("C")  # code-point order, whatever the database's locale
        query = sa.select(users).order_by(key).limit(limit)
        if after is not None:
            query = query.where(key > after)
        rows = (await self._run(query)).mappings().all()
        if not rows:
            return []
        staff = await self._run(
            sa.select(user_staff_roles).where(
                user_staff_roles.c.user_id.in_([row["id"] for row in rows])
            )
        )
        staff_of: dict[UserId, set[ProviderId]] = {}
        for role in staff.mappings():
            staff_of.setdefault(role["user_id"], set()).add(ProviderId(role["provider_id"]))
        return [_user(row, staff_of.get(row["id"], set())) for row in rows]

    async def save(self, user: User) -> None:
        await self._run(sa.update(users).where(users.c.id == user.id).values(**_user_values(user)))
        await self._save_staff_roles(user)

    async def _save_staff_roles(self, user: User) -> None:
        await self._run(sa.delete(user_staff_roles).where(user_staff_roles.c.user_id == user.id))
        if user.staff_of:
            await self._run(
                sa.insert(user_staff_roles).values(
                    [{"user_id": user.id, "provider_id": p} for p in user.staff_of]
                )
            )

    async def _one(self, query: sa.Select[Any]) -> User | None:
        row = (await self._run(query)).mappings().first()
        if row is None:
            return None
        staff = await self._run(
            sa.select(user_staff_roles.c.provider_id).where(user_staff_roles.c.user_id == row["id"])
        )
        return _user(row, {ProviderId(p) for p in staff.scalars()})


def _user(row: sa.RowMapping, staff_of: set[ProviderId]) -> User:
    return User(
        id=UserId(row["id"]),
        email=Email(value=row["email"]),
        password_hash=row["password_hash"],
        created_at=to_utc(row["created_at"]),
        email_verified_at=_utc(row["email_verified_at"]),
        is_admin=row["is_admin"],
        staff_of=frozenset(staff_of),
        locked_at=_utc(row["locked_at"]),
    )


# --- one-time tokens -------------------------------------------------------------------------


class PostgisOneTimeTokenRepository(_Part, OneTimeTokenRepository):
    async def add(self, token: OneTimeToken) -> None:
        await self._run(
            sa.insert(one_time_tokens).values(
                id=token.id,
                user_id=token.user_id,
                purpose=token.purpose.value,
                token_hash=token.token_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
                used_at=token.used_at,
                failed_attempts=token.failed_attempts,
            )
        )

    async def find(self, token_hash: str, purpose: TokenPurpose) -> OneTimeToken | None:
        row = (
            (
                await self._run(
                    sa.select(one_time_tokens).where(
                        one_time_tokens.c.token_hash == token_hash,
                        one_time_tokens.c.purpose == purpose.value,
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return OneTimeToken(
            id=OneTimeTokenId(row["id"]),
            user_id=UserId(row["user_id"]),
            purpose=TokenPurpose(row["purpose"]),
            token_hash=row["token_hash"],
            created_at=to_utc(row["created_at"]),
            expires_at=to_utc(row["expires_at"]),
            used_at=_utc(row["used_at"]),
            failed_attempts=row["failed_attempts"],
        )

    async def consume(self, token_id: OneTimeTokenId, at: datetime) -> bool:
        t = one_time_tokens.c
        result = await self._run(
            sa.update(one_time_tokens)
            .where(t.id == token_id, t.used_at.is_(None), t.expires_at > at)
            .values(used_at=at)
            .returning(t.id)
        )
        return result.first() is not None

    async def record_failed_attempt(self, token_id: OneTimeTokenId) -> None:
        t = one_time_tokens.c
        await self._run(
            sa.update(one_time_tokens)
            .where(t.id == token_id)
            .values(failed_attempts=t.failed_attempts + 1)
        )

    async def discard_for_user(self, user_id: UserId, purpose: TokenPurpose, at: datetime) -> None:
        t = one_time_tokens.c
        await self._run(
            sa.update(one_time_tokens)
            .where(t.user_id == user_id, t.purpose == purpose.value, t.used_at.is_(None))
            .values(used_at=at)
        )


# --- sessions and refresh tokens -------------------------------------------------------------


def _session(row: sa.RowMapping) -> Session:
    return Session(
        id=SessionId(row["id"]),
        user_id=UserId(row["user_id"]),
        created_at=to_utc(row["created_at"]),
        last_used_at=to_utc(row["last_used_at"]),
        expires_at=to_utc(row["expires_at"]),
        aal=Aal(row["aal"]),
        amr=tuple(row["amr"]),
        user_agent=row["user_agent"],
        ip=row["ip"],
        revoked_at=_utc(row["revoked_at"]),
    )


class PostgisSessionRepository(_Part, SessionRepository):
    async def add(self, session: Session) -> None:
        await self._run(
            sa.insert(auth_sessions).values(
                id=session.id,
                user_id=session.user_id,
                created_at=session.created_at,
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
                aal=session.aal.value,
                amr=list(session.amr),
                user_agent=session.user_agent,
                ip=session.ip,
                revoked_at=session.revoked_at,
            )
        )

    async def get(self, session_id: SessionId, *, lock: bool = False) -> Session | None:
        query = sa.select(auth_sessions).where(auth_sessions.c.id == session_id)
        row = (await self._run(query.with_for_update() if lock else query)).mappings().first()
        return _session(row) if row is not None else None

    async def save(self, session: Session) -> None:
        await self._run(
            sa.update(auth_sessions)
            .where(auth_sessions.c.id == session.id)
            .values(
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
                aal=session.aal.value,
                amr=list(session.amr),
                revoked_at=session.revoked_at,
            )
        )

    async def list_live(self, user_id: UserId, now: datetime) -> Sequence[Session]:
        s = auth_sessions.c
        rows = await self._run(
            sa.select(auth_sessions)
            .where(s.user_id == user_id, s.revoked_at.is_(None), s.expires_at > now)
            .order_by(s.last_used_at.desc())
        )
        return [_session(row) for row in rows.mappings()]

    async def revoke_all(
        self, user_id: UserId, at: datetime, *, keep: SessionId | None = None
    ) -> int:
        s = auth_sessions.c
        query = sa.update(auth_sessions).where(s.user_id == user_id, s.revoked_at.is_(None))
        if keep is not None:
            query = query.where(s.id != keep)
        revoked = list((await self._run(query.values(revoked_at=at).returning(s.id))).scalars())
        if revoked:
            await self._run(
                sa.update(refresh_tokens)
                .where(
                    refresh_tokens.c.session_id.in_(revoked),
                    refresh_tokens.c.child_seal.is_not(None),
                )
                .values(child_seal=None)
            )
        return len(revoked)


def _refresh_token(row: sa.RowMapping) -> RefreshToken:
    return RefreshToken(
        id=RefreshTokenId(row["id"]),
        session_id=SessionId(row["session_id"]),
        token_hash=row["token_hash"],
        parent_id=RefreshTokenId(row["parent_id"]) if row["parent_id"] else None,
        created_at=to_utc(row["created_at"]),
        expires_at=to_utc(row["expires_at"]),
        rotated_at=_utc(row["rotated_at"]),
        child_id=RefreshTokenId(row["child_id"]) if row["child_id"] else None,
        child_seal=row["child_seal"],
    )


class PostgisRefreshTokenRepository(_Part, RefreshTokenRepository):
    async def add(self, token: RefreshToken) -> None:
        await self._run(
            sa.insert(refresh_tokens).values(
                id=token.id,
                session_id=token.session_id,
                token_hash=token.token_hash,
                parent_id=token.parent_id,
                created_at=token.created_at,
                expires_at=token.expires_at,
                rotated_at=token.rotated_at,
                child_id=token.child_id,
                child_seal=token.child_seal,
            )
        )

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self._one(refresh_tokens.c.token_hash == token_hash)

    async def get(self, token_id: RefreshTokenId) -> RefreshToken | None:
        return await self._one(refresh_tokens.c.id == token_id)

    async def save(self, token: RefreshToken) -> None:
        await self._run(
            sa.update(refresh_tokens)
            .where(refresh_tokens.c.id == token.id)
            .values(
                expires_at=token.expires_at,
                rotated_at=token.rotated_at,
                child_id=token.child_id,
                child_seal=token.child_seal,
            )
        )

    async def discard_seals(self, session_id: SessionId, *, keep: RefreshTokenId | None) -> None:
        r = refresh_tokens.c
        query = sa.update(refresh_tokens).where(
            r.session_id == session_id, r.child_seal.is_not(None)
        )
        if keep is not None:
            query = query.where(r.id != keep)
        await self._run(query.values(child_seal=None))

    async def discard_seals_rotated_before(self, at: datetime) -> int:
        r = refresh_tokens.c
        result = await self._run(
            sa.update(refresh_tokens)
            .where(r.child_seal.is_not(None), r.rotated_at < at)
            .values(child_seal=None)
            .returning(r.id)
        )
        return len(result.all())

    async def _one(self, condition: sa.ColumnElement[bool]) -> RefreshToken | None:
        row = (await self._run(sa.select(refresh_tokens).where(condition))).mappings().first()
        return _refresh_token(row) if row is not None else None


# --- MFA -------------------------------------------------------------------------------------


class PostgisTotpRepository(_Part, TotpRepository):
    async def get(self, user_id: UserId) -> TotpCredential | None:
        row = (
            (
                await self._run(
                    sa.select(totp_credentials).where(totp_credentials.c.user_id == user_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return TotpCredential(
            user_id=UserId(row["user_id"]),
            secret=row["secret"],
            created_at=to_utc(row["created_at"]),
            confirmed_at=_utc(row["confirmed_at"]),
            last_used_step=row["last_used_step"],
        )

    async def save(self, credential: TotpCredential) -> None:
        values = {
            "secret": credential.secret,
            "created_at": credential.created_at,
            "confirmed_at": credential.confirmed_at,
            "last_used_step": credential.last_used_step,
        }
        await self._run(
            insert(totp_credentials)
            .values(user_id=credential.user_id, **values)
            .on_conflict_do_update(index_elements=[totp_credentials.c.user_id], set_=values)
        )

    async def delete(self, user_id: UserId) -> None:
        await self._run(sa.delete(totp_credentials).where(totp_credentials.c.user_id == user_id))

    async def use_step(self, user_id: UserId, step: int) -> bool:
        t = totp_credentials.c
        result = await self._run(
            sa.update(totp_credentials)
            .where(
                t.user_id == user_id,
                sa.or_(t.last_used_step.is_(None), t.last_used_step < step),
            )
            .values(last_used_step=step)
            .returning(t.user_id)
        )
        return result.first() is not None


class PostgisRecoveryCodeRepository(_Part, RecoveryCodeRepository):
    async def replace(self, user_id: UserId, code_hashes: Sequence[str], at: datetime) -> None:
        await self.delete_all(user_id)
        if code_hashes:
            await self._run(
                sa.insert(recovery_codes).values(
                    [{"user_id": user_id, "code_hash": h, "created_at": at} for h in code_hashes]
                )
            )

    async def consume(self, user_id: UserId, code_hash: str, at: datetime) -> bool:
        c = recovery_codes.c
        result = await self._run(
            sa.update(recovery_codes)
            .where(c.user_id == user_id, c.code_hash == code_hash, c.used_at.is_(None))
            .values(used_at=at)
            .returning(c.code_hash)
        )
        return result.first() is not None

    async def count_unused(self, user_id: UserId) -> int:
        c = recovery_codes.c
        result = await self._run(
            sa.select(sa.func.count()).where(c.user_id == user_id, c.used_at.is_(None))
        )
        return int(result.scalar_one())

    async def delete_all(self, user_id: UserId) -> None:
        await self._run(sa.delete(recovery_codes).where(recovery_codes.c.user_id == user_id))


# --- signing keys ----------------------------------------------------------------------------


def _signing_key(row: sa.RowMapping) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        private_pem=row["private_key_pem"],
        public_jwk=row["public_jwk"],
        created_at=to_utc(row["created_at"]),
        retired_at=_utc(row["retired_at"]),
    )


class PostgisSigningKeyRepository(_Part, SigningKeyRepository):
    async def active(self) -> SigningKey | None:
        return await self._one(signing_keys.c.retired_at.is_(None))

    async def add_if_none_active(self, key: SigningKey) -> SigningKey:
        # The partial unique index admits one active key; a concurrent creator's wins.
        await self._run(
            insert(signing_keys)
            .values(
                kid=key.kid,
                private_key_pem=key.private_pem,
                public_jwk=dict(key.public_jwk),
                created_at=key.created_at,
                retired_at=None,
            )
            .on_conflict_do_nothing()
        )
        active = await self.active()
        if active is None:
            raise RuntimeError("no active signing key after inserting one")
        return active

    async def get(self, kid: str) -> SigningKey | None:
        return await self._one(signing_keys.c.kid == kid)

    async def retire_active(self, at: datetime) -> SigningKey | None:
        k = signing_keys.c
        row = (
            (
                await self._run(
                    sa.update(signing_keys)
                    .where(k.retired_at.is_(None))
                    .values(retired_at=at)
                    .returning(signing_keys)
                )
            )
            .mappings()
            .first()
        )
        return _signing_key(row) if row is not None else None

    async def verifying(self, retired_after: datetime) -> Sequence[SigningKey]:
        k = signing_keys.c
        rows = await self._run(
            sa.select(signing_keys)
            .where(sa.or_(k.retired_at.is_(None), k.retired_at > retired_after))
            .order_by(k.retired_at.desc().nulls_first())
        )
        return [_signing_key(row) for row in rows.mappings()]

    async def _one(self, condition: sa.ColumnElement[bool]) -> SigningKey | None:
        row = (await self._run(sa.select(signing_keys).where(condition))).mappings().first()
        return _signing_key(row) if row is not None else None


# --- audit and outbox ------------------------------------------------------------------------


class PostgisAuditLog(_Part, AuditLog):
    async def append(self, entry: AuditEntry) -> None:
        await self._run(
            sa.insert(audit_log).values(
                id=entry.id,
                at=entry.at,
                action=entry.action.value,
                actor_user_id=entry.actor_user_id,
                subject_user_id=entry.subject_user_id,
                ip=entry.ip,
                user_agent=entry.user_agent,
                details=dict(entry.details),
            )
        )

    async def query(self, query: AuditQuery) -> Sequence[AuditEntry]:
        a = audit_log.c
        select = sa.select(audit_log).order_by(a.at.desc(), a.seq.desc()).limit(query.limit)
        if query.user_id is not None:
            select = select.where(
                sa.or_(a.actor_user_id == query.user_id, a.subject_user_id == query.user_id)
            )
        if query.action is not None:
            select = select.where(a.action == query.action.value)
        if query.since is not None:
            select = select.where(a.at >= query.since)
        if query.until is not None:
            select = select.where(a.at < query.until)
        rows = await self._run(select)
        return [
            AuditEntry(
                id=AuditEntryId(row["id"]),
                at=to_utc(row["at"]),
                action=AuditAction(row["action"]),
                actor_user_id=UserId(row["actor_user_id"]) if row["actor_user_id"] else None,
                subject_user_id=UserId(row["subject_user_id"]) if row["subject_user_id"] else None,
                ip=row["ip"],
                user_agent=row["user_agent"],
                details=row["details"],
            )
            for row in rows.mappings()
        ]
