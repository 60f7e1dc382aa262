"""Identity's `PersonalRecords` over the memory store (sections "account", "sessions", "audit"),
for the privacy use cases' unit tests: the same documents and erasure as
adapters/postgis/identity/records.py, over plain values."""

from __future__ import annotations

import attrs

from adapters.memory.identity import PERSONAL_DETAILS, MemoryIdentityStore
from core.consent.records import Json, PersonalRecords, export_time
from core.identity.model import AuditEntry
from core.identity.ports import LiveSessions
from core.shared.ids import UserId
from core.shared.unit_of_work import MAINTENANCE


def _sealed_for(entry: AuditEntry) -> UserId | None:
    return entry.subject_user_id if entry.subject_user_id is not None else entry.actor_user_id


@attrs.frozen
class _MemoryIdentityRecords:
    store: MemoryIdentityStore
    live_sessions: LiveSessions

    async def erase(self, person: UserId) -> None:
        async with self.store.uow(MAINTENANCE) as uow:
            state = uow.state
            sessions = [s for s in state.sessions.values() if s.user_id == person]
            await self.live_sessions.end(person, [s.id for s in sessions if s.revoked_at is None])
            for session in sessions:
                del state.sessions[session.id]
                state.refresh_tokens = {
                    k: t for k, t in state.refresh_tokens.items() if t.session_id != session.id
                }
            state.one_time_tokens = {
                k: t for k, t in state.one_time_tokens.items() if t.user_id != person
            }
            state.users.pop(person, None)
            state.totp.pop(person, None)
            state.recovery_codes.pop(person, None)
            state.audit = [
                attrs.evolve(
                    entry,
                    ip=None,
                    user_agent=None,
                    details={k: v for k, v in entry.details.items() if k not in PERSONAL_DETAILS},
                )
                if _sealed_for(entry) == person
                else entry
                for entry in state.audit
            ]
            await uow.commit()
        await self.live_sessions.new_epoch(person)


class MemoryAccountRecords(_MemoryIdentityRecords, PersonalRecords):
    @property
    def section(self) -> str:
        return "account"

    async def export(self, person: UserId) -> Json:
        user = self.store.state.users.get(person)
        if user is None:
            return None
        totp = self.store.state.totp.get(person)
        return {
            "id": str(person),
            "email": user.email.value,
            "created_at": export_time(user.created_at),
            "email_verified_at": export_time(user.email_verified_at),
            "roles": [
                r for r in ("customer", "staff", "admin") if r in {x.value for x in user.roles}
            ],
            "staff_of": sorted(str(p) for p in user.staff_of),
            "locked_at": export_time(user.locked_at),
            "mfa_enabled": totp is not None and totp.active,
        }


class MemorySessionRecords(_MemoryIdentityRecords, PersonalRecords):
    @property
    def section(self) -> str:
        return "sessions"

    async def export(self, person: UserId) -> Json:
        sessions = sorted(
            (s for s in self.store.state.sessions.values() if s.user_id == person),
            key=lambda s: (s.created_at, s.id),
        )
        return [
            {
                "id": str(s.id),
                "created_at": export_time(s.created_at),
                "last_used_at": export_time(s.last_used_at),
                "expires_at": export_time(s.expires_at),
                "revoked_at": export_time(s.revoked_at),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "second_factor": s.aal.value == "aal2",
            }
            for s in sessions
        ]


class MemoryAuditRecords(_MemoryIdentityRecords, PersonalRecords):
    @property
    def section(self) -> str:
        return "audit"

    async def export(self, person: UserId) -> Json:
        entries = [
            e for e in self.store.state.audit if person in (e.subject_user_id, e.actor_user_id)
        ]
        out: list[Json] = []
        for entry in entries:
            own = _sealed_for(entry) == person
            out.append(
                {
                    "id": str(entry.id),
                    "at": export_time(entry.at),
                    "action": str(entry.action),
                    "as": "subject" if entry.subject_user_id == person else "actor",
                    "by_self": entry.actor_user_id == person,
                    "details": {
                        k: v for k, v in entry.details.items() if own or k not in PERSONAL_DETAILS
                    },
                    "ip": entry.ip if own else None,
                    "user_agent": entry.user_agent if own else None,
                }
            )
        return out


def memory_identity_records(
    store: MemoryIdentityStore, live_sessions: LiveSessions
) -> tuple[PersonalRecords, ...]:
    return tuple(
        records(store, live_sessions)
        for records in (MemoryAccountRecords, MemorySessionRecords, MemoryAuditRecords)
    )
