"""The identity unit of work: one connection and transaction, every identity repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.identity.audit import PostgisAuditLog
from adapters.postgis.identity.mfa import PostgisRecoveryCodeRepository, PostgisTotpRepository
from adapters.postgis.identity.one_time_tokens import PostgisOneTimeTokenRepository
from adapters.postgis.identity.sessions import (
    PostgisRefreshTokenRepository,
    PostgisSessionRepository,
)
from adapters.postgis.identity.signing_keys import PostgisSigningKeyRepository
from adapters.postgis.identity.users import PostgisUserRepository
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.identity.ports import IdentityUnitOfWork
from core.shared.keyring import Keyring
from core.shared.unit_of_work import Access


class PostgisIdentityUnitOfWork(PostgisUnitOfWork, IdentityUnitOfWork):
    def __init__(self, engine: AsyncEngine, keyring: Keyring, access: Access) -> None:
        super().__init__(engine, access)
        self.users = PostgisUserRepository(self)
        self.one_time_tokens = PostgisOneTimeTokenRepository(self)
        self.sessions = PostgisSessionRepository(self)
        self.refresh_tokens = PostgisRefreshTokenRepository(self)
        self.totp = PostgisTotpRepository(self, keyring)
        self.recovery_codes = PostgisRecoveryCodeRepository(self)
        self.signing_keys = PostgisSigningKeyRepository(self, keyring)
        self.audit = PostgisAuditLog(self)

    @classmethod
    def factory(cls, engine: AsyncEngine, keyring: Keyring) -> Callable[[Access], Self]:
        return lambda access: cls(engine, keyring, access)
