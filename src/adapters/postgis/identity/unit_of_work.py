"""The identity unit of work: one connection and transaction, every identity repository.

Personal values are sealed per person by `personal_data` (core.shared.personal). A caller
holding an address (`Access.holding(email key)`: login, registration, password reset) reaches
its account's rows through the address's keyed hash, which is what the database stores and
what its row-level security compares (migration 0015): the plain address is never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.identity.audit import PostgisAuditLog
from adapters.postgis.identity.mfa import PostgisRecoveryCodeRepository, PostgisTotpRepository
from adapters.postgis.identity.one_time_tokens import PostgisOneTimeTokenRepository
from adapters.postgis.identity.personal import email_hash, looks_like_email_key
from adapters.postgis.identity.sessions import (
    PostgisRefreshTokenRepository,
    PostgisSessionRepository,
)
from adapters.postgis.identity.signing_keys import PostgisSigningKeyRepository
from adapters.postgis.identity.users import PostgisUserRepository
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.identity.ports import IdentityUnitOfWork
from core.shared.keyring import Keyring
from core.shared.personal import PersonalData
from core.shared.unit_of_work import Access


class PostgisIdentityUnitOfWork(PostgisUnitOfWork, IdentityUnitOfWork):
    def __init__(
        self, engine: AsyncEngine, keyring: Keyring, personal_data: PersonalData, access: Access
    ) -> None:
        super().__init__(engine, access)
        self._personal = personal_data
        self.users = PostgisUserRepository(self, personal_data)
        self.one_time_tokens = PostgisOneTimeTokenRepository(self)
        self.sessions = PostgisSessionRepository(self, personal_data)
        self.refresh_tokens = PostgisRefreshTokenRepository(self)
        self.totp = PostgisTotpRepository(self, keyring)
        self.recovery_codes = PostgisRecoveryCodeRepository(self)
        self.signing_keys = PostgisSigningKeyRepository(self, keyring)
        self.audit = PostgisAuditLog(self, personal_data)

    async def __aenter__(self) -> Self:
        key = self._access.key
        if key is not None and looks_like_email_key(key):
            hashed = await email_hash(self._personal, key)
            self._access = attrs.evolve(self._access, key=hashed)
        return await super().__aenter__()

    @classmethod
    def factory(
        cls, engine: AsyncEngine, keyring: Keyring, personal_data: PersonalData
    ) -> Callable[[Access], Self]:
        return lambda access: cls(engine, keyring, personal_data, access)
