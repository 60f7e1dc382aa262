"""Users and their staff roles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.identity.tables import user_staff_roles, users
from adapters.postgis.sql import utc_or_none
from adapters.postgis.unit_of_work import PostgisPart
from core.identity.model import Email, User
from core.identity.ports import UserRepository
from core.shared.ids import ProviderId, UserId
from core.shared.time import to_utc


def _user_values(user: User) -> dict[str, Any]:
    return {
        "email": user.email.value,
        "email_key": user.email.key,
        "password_hash": user.password_hash,
        "email_verified_at": user.email_verified_at,
        "is_admin": user.is_admin,
        "locked_at": user.locked_at,
    }


class PostgisUserRepository(PostgisPart, UserRepository):
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
        email_verified_at=utc_or_none(row["email_verified_at"]),
        is_admin=row["is_admin"],
        staff_of=frozenset(staff_of),
        locked_at=utc_or_none(row["locked_at"]),
    )
