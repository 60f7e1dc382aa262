"""Identity's part of a person's export and erasure (`PersonalRecords`; docs/privacy.md).

Three sections:
- "account": the account (id, address, when created and verified, roles, whether locked,
  whether a second factor is on); never a password hash, a TOTP secret or a recovery code.
- "sessions": every session of the account (times, IP address, user agent, revocation).
- "audit": the audit entries naming the person (as subject or actor): action, time, the role
  they had in it, its non-personal details, and the IP address and user agent sealed for them.

Erasure (any of the three runs all of identity's part, so the order of the steps does not
matter, and every step is idempotent and needs no sealed value in clear, so it works after
the person's key was shredded): end the account's sessions in the live-session store, delete
the users row (its tokens, sessions, refresh tokens, TOTP, recovery codes and staff roles
cascade), delete the audit client data sealed for the person, then refuse every access token
issued to them before now. The chained audit entries stay, naming only a user id that no
longer resolves (pseudonymous).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlalchemy as sa

from adapters.postgis.identity.audit import person_of
from adapters.postgis.identity.personal import (
    AUDIT_DETAILS,
    AUDIT_IP,
    AUDIT_USER_AGENT,
    EMAIL,
    SESSION_IP,
    SESSION_USER_AGENT,
)
from adapters.postgis.identity.sessions import open_or_none
from adapters.postgis.identity.tables import (
    audit_log,
    audit_log_clients,
    auth_sessions,
    totp_credentials,
    user_staff_roles,
    users,
)
from adapters.postgis.identity.unit_of_work import PostgisIdentityUnitOfWork
from core.consent.records import Json, PersonalRecords, export_time
from core.identity.model import SessionId
from core.identity.ports import LiveSessions
from core.shared.ids import UserId
from core.shared.personal import PersonalData
from core.shared.unit_of_work import MAINTENANCE, Access

IdentityUnitOfWorks = Callable[[Access], PostgisIdentityUnitOfWork]


_CLIENT_COLUMNS = (
    ("ip_sealed", AUDIT_IP),
    ("user_agent_sealed", AUDIT_USER_AGENT),
    ("details_sealed", AUDIT_DETAILS),
)


class _IdentityRecords:
    def __init__(
        self, uow: IdentityUnitOfWorks, personal_data: PersonalData, live_sessions: LiveSessions
    ) -> None:
        self._uow = uow
        self._personal = personal_data
        self._live = live_sessions

    async def erase(self, person: UserId) -> None:
        await erase_identity(self._uow, self._live, person)


async def erase_identity(
    uow_of: IdentityUnitOfWorks, live_sessions: LiveSessions, person: UserId
) -> None:
    """Identity's whole part of an erasure; running it again does nothing more."""
    s = auth_sessions.c
    async with uow_of(MAINTENANCE) as uow:
        connection = uow.connection
        # The account row first, locked: a login or refresh racing the erasure waits for it.
        await connection.execute(
            sa.select(users.c.id).where(users.c.id == person).with_for_update()
        )
        sessions = (
            await connection.execute(
                sa.select(s.id).where(s.user_id == person, s.revoked_at.is_(None))
            )
        ).scalars()
        live = [SessionId(session_id) for session_id in sessions]
        # Before the commit, as every revocation does: if this fails, nothing was deleted.
        await live_sessions.end(person, live)
        await connection.execute(sa.delete(users).where(users.c.id == person))
        a = audit_log.c
        theirs = sa.select(a.id).where(
            sa.or_(
                a.subject_user_id == person,
                sa.and_(a.subject_user_id.is_(None), a.actor_user_id == person),
            )
        )
        await connection.execute(
            sa.delete(audit_log_clients).where(audit_log_clients.c.audit_id.in_(theirs))
        )
        await uow.commit()
    # After it: a token refreshed meanwhile would otherwise carry the new epoch.
    await live_sessions.new_epoch(person)


class PostgisAccountRecords(_IdentityRecords, PersonalRecords):
    @property
    def section(self) -> str:
        return "account"

    async def export(self, person: UserId) -> Json:
        async with self._uow(Access.user(person)) as uow:
            row = (
                (await uow.connection.execute(sa.select(users).where(users.c.id == person)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            staff_of = (
                (
                    await uow.connection.execute(
                        sa.select(user_staff_roles.c.provider_id).where(
                            user_staff_roles.c.user_id == person
                        )
                    )
                )
                .scalars()
                .all()
            )
            mfa = (
                await uow.connection.execute(
                    sa.select(sa.func.count()).where(
                        totp_credentials.c.user_id == person,
                        totp_credentials.c.confirmed_at.is_not(None),
                    )
                )
            ).scalar_one()
        email = await self._personal.open(person, bytes(row["email_sealed"]), field=EMAIL)
        roles = [
            "customer",
            *(["staff"] if staff_of else []),
            *(["admin"] if row["is_admin"] else []),
        ]
        return {
            "id": str(person),
            "email": email,
            "created_at": export_time(row["created_at"]),
            "email_verified_at": export_time(row["email_verified_at"]),
            "roles": roles,
            "staff_of": sorted(str(provider) for provider in staff_of),
            "locked_at": export_time(row["locked_at"]),
            "mfa_enabled": bool(mfa),
        }


class PostgisSessionRecords(_IdentityRecords, PersonalRecords):
    @property
    def section(self) -> str:
        return "sessions"

    async def export(self, person: UserId) -> Json:
        s = auth_sessions.c
        async with self._uow(Access.user(person)) as uow:
            rows = (
                (
                    await uow.connection.execute(
                        sa.select(auth_sessions)
                        .where(s.user_id == person)
                        .order_by(s.created_at, s.id)
                    )
                )
                .mappings()
                .all()
            )
        return [
            {
                "id": str(row["id"]),
                "created_at": export_time(row["created_at"]),
                "last_used_at": export_time(row["last_used_at"]),
                "expires_at": export_time(row["expires_at"]),
                "revoked_at": export_time(row["revoked_at"]),
                "ip": await open_or_none(self._personal, person, row["ip_sealed"], SESSION_IP),
                "user_agent": await open_or_none(
                    self._personal, person, row["user_agent_sealed"], SESSION_USER_AGENT
                ),
                "second_factor": row["aal"] == "aal2",
            }
            for row in rows
        ]


class PostgisAuditRecords(_IdentityRecords, PersonalRecords):
    @property
    def section(self) -> str:
        return "audit"

    async def export(self, person: UserId) -> Json:
        a = audit_log.c
        query = (
            sa.select(
                a.id,
                a.at,
                a.action,
                a.actor_user_id,
                a.subject_user_id,
                a.details,
                audit_log_clients.c.ip_sealed,
                audit_log_clients.c.user_agent_sealed,
                audit_log_clients.c.details_sealed,
            )
            .outerjoin(audit_log_clients, audit_log_clients.c.audit_id == a.id)
            .where(sa.or_(a.subject_user_id == person, a.actor_user_id == person))
            .order_by(a.at, a.seq)
        )
        async with self._uow(Access.user(person)) as uow:
            rows = (await uow.connection.execute(query)).mappings().all()
        entries: list[Json] = []
        for row in rows:
            # Client data sealed for someone else (an admin's IP, in an entry about another
            # user) is theirs, not this person's.
            own = person_of(row["actor_user_id"], row["subject_user_id"]) == person
            opened = {
                field: await open_or_none(self._personal, person, row[column], field)
                if own
                else None
                for column, field in _CLIENT_COLUMNS
            }
            details = dict(row["details"])
            personal = opened[AUDIT_DETAILS]
            if personal is not None:
                details.update(json.loads(personal))
            entries.append(
                {
                    "id": str(row["id"]),
                    "at": export_time(row["at"]),
                    "action": row["action"],
                    "as": "subject" if row["subject_user_id"] == person else "actor",
                    "by_self": row["actor_user_id"] == person,
                    "details": details,
                    "ip": opened[AUDIT_IP],
                    "user_agent": opened[AUDIT_USER_AGENT],
                }
            )
        return entries


def identity_records(
    uow: IdentityUnitOfWorks, personal_data: PersonalData, live_sessions: LiveSessions
) -> tuple[PersonalRecords, ...]:
    """Identity's sections, in the order their exports read best."""
    return tuple(
        records(uow, personal_data, live_sessions)
        for records in (PostgisAccountRecords, PostgisSessionRecords, PostgisAuditRecords)
    )
