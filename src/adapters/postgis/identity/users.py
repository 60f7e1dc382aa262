"""Users and their staff roles.

The address is sealed under the user's own key and found by its keyed hash (`email_hash`,
unique: the database decides between concurrent registrations of one address). A user whose
key was shredded (erased) reads as no user: erasure deletes the row anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgis.identity.personal import EMAIL, email_hash
from adapters.postgis.identity.tables import user_staff_roles, users
from adapters.postgis.sql import utc_or_none
from adapters.postgis.unit_of_work import PostgisPart, PostgisUnitOfWork
from core.identity.model import Email, User
from core.identity.ports import UserRepository
from core.shared.ids import ProviderId, UserId
from core.shared.personal import PersonalData
from core.shared.time import to_utc


class PostgisUserRepository(PostgisPart, UserRepository):
    def __init__(self, uow: PostgisUnitOfWork, personal: PersonalData) -> None:
        super().__init__(uow)
        self._personal = personal

    async def _values(self, user: User) -> dict[str, Any]:
        return {
            "email_sealed": await self._personal.seal(user.id, user.email.value, field=EMAIL),
            "email_hash": await email_hash(self._personal, user.email.key),
            "password_hash": user.password_hash,
            "email_verified_at": user.email_verified_at,
            "is_admin": user.is_admin,
            "locked_at": user.locked_at,
        }

    async def add(self, user: User) -> bool:
        values = await self._values(user)
        inserted = await self._run(
            insert(users)
            .values(id=user.id, created_at=user.created_at, **values)
            .on_conflict_do_nothing(index_elements=[users.c.email_hash])
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
        hashed = await email_hash(self._personal, email_key)
        return await self._one(sa.select(users).where(users.c.email_hash == hashed))

    async def list_by_email(self, *, after: str | None, limit: int) -> Sequence[User]:
        """In the order of the addresses' keyed hashes (the addresses are sealed, so the
        database cannot sort them): stable, complete pages, each starting after the address
        that ended the previous one, in no alphabetical order."""
        order = users.c.email_hash.collate("C")
        query = sa.select(users).order_by(order).limit(limit)
        if after is not None:
            query = query.where(order > await email_hash(self._personal, after))
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
        found = [await self._user(row, staff_of.get(row["id"], set())) for row in rows]
        return [user for user in found if user is not None]

    async def save(self, user: User) -> None:
        await self._run(
            sa.update(users).where(users.c.id == user.id).values(**await self._values(user))
        )
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
        return await self._user(row, {ProviderId(p) for p in staff.scalars()})

    async def _user(self, row: sa.RowMapping, staff_of: set[ProviderId]) -> User | None:
        """The user; None once their key was shredded (their address no longer opens)."""
        address = await self._personal.open(row["id"], bytes(row["email_sealed"]), field=EMAIL)
        if address is None:
            return None
        return User(
            id=UserId(row["id"]),
            email=Email(value=address),
            password_hash=row["password_hash"],
            created_at=to_utc(row["created_at"]),
            email_verified_at=utc_or_none(row["email_verified_at"]),
            is_admin=row["is_admin"],
            staff_of=frozenset(staff_of),
            locked_at=utc_or_none(row["locked_at"]),
        )
