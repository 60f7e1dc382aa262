"""Identity test helpers shared by the unit and integration suites. Use cases are built from one
set of ports (`adapters.memory.setup.IdentityPorts`): `ports(Login)`; `real_deps` are the
production ones over PostgreSQL."""

from __future__ import annotations

from returns.result import Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.clock import FixedClock
from adapters.memory.security_fakes import MemoryThrottle
from adapters.memory.setup import IdentityPorts
from adapters.postgis.identity import PostgisIdentityUnitOfWork
from adapters.postgis.personal import PostgisPersonKeyVault
from adapters.postgis.sealed import PostgisSealedSecrets
from adapters.security.access_tokens import Ed25519SigningKeyFactory, PyJwtAccessTokenCodec
from adapters.security.breached import BundledBreachedPasswords
from adapters.security.keyring import AesGcmKeyring
from adapters.security.passwords import Argon2Params, Argon2PasswordHasher
from adapters.security.personal import AesGcmPersonalData
from adapters.security.qr import SegnoQrRenderer
from adapters.security.sealing import AesGcmTokenSealer
from adapters.security.totp import PyotpTotpGenerator
from core.identity import ClientContext, OperatorPrincipal, StartOperatorSession
from core.identity.settings import IdentitySettings
from core.shared.keyring import Keyring
from core.shared.personal import PersonalData

__all__ = ["IdentityPorts", "operator", "personal_data", "real_deps"]


async def operator(ports: IdentityPorts, os_user: str = "tester") -> OperatorPrincipal:
    """The caller the CLI would be for `os_user`: an admin operator account with MFA."""
    started = await ports(StartOperatorSession)(os_user=os_user, client=ClientContext())
    assert isinstance(started, Success), started
    return started.unwrap()


def personal_data(engine: AsyncEngine, keyring: Keyring) -> AesGcmPersonalData:
    """Per-person sealing as the service does it: keys in the database, wrapped by `keyring`."""
    return AesGcmPersonalData(PostgisPersonKeyVault(engine), keyring)


def real_deps(
    engine: AsyncEngine,
    keyring: AesGcmKeyring,
    clock: FixedClock,
    settings: IdentitySettings | None = None,
    personal: PersonalData | None = None,
) -> IdentityPorts:
    """The production adapters (Argon2 kept cheap) over PostgreSQL, sealing with `keyring`."""
    return IdentityPorts(
        uow=PostgisIdentityUnitOfWork.factory(
            engine, keyring, personal or personal_data(engine, keyring)
        ),
        clock=clock,
        settings=settings or IdentitySettings(),
        passwords=Argon2PasswordHasher(Argon2Params(memory_cost_kib=1024, time_cost=1)),
        breached=BundledBreachedPasswords(),
        codec=PyJwtAccessTokenCodec(),
        key_factory=Ed25519SigningKeyFactory(),
        sealer=AesGcmTokenSealer(),
        totp=PyotpTotpGenerator(),
        qr=SegnoQrRenderer(),
        throttle=MemoryThrottle(clock),
        request_throttle=MemoryThrottle(clock),
        keyring=keyring,
        key_store=keyring.store,
        sealed_secrets=PostgisSealedSecrets(engine, keyring),
    )
