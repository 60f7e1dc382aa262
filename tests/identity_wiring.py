"""Identity use cases built from one set of ports, as the container builds them: tests name the
use case (`ports(Login)`) and get it with exactly the ports its fields ask for."""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
from returns.result import Success

from core.identity.admin import StartOperatorSession
from core.identity.common import SecondFactorCheck, SessionStarter, TokenIssuer
from core.identity.model import ClientContext, OperatorPrincipal
from core.identity.ports import (
    AccessTokenCodec,
    BreachedPasswords,
    IdentityUnitOfWork,
    PasswordHasher,
    QrRenderer,
    SigningKeyFactory,
    Throttle,
    TokenSealer,
    TotpGenerator,
)
from core.identity.settings import IdentitySettings
from core.shared.time import Clock
from core.shared.unit_of_work import UnitOfWorkFactory

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class IdentityPorts:
    uow: UnitOfWorkFactory[IdentityUnitOfWork]
    clock: Clock
    settings: IdentitySettings
    passwords: PasswordHasher
    breached: BreachedPasswords
    codec: AccessTokenCodec
    key_factory: SigningKeyFactory
    sealer: TokenSealer
    totp: TotpGenerator
    qr: QrRenderer
    throttle: Throttle  # failures: passwords, codes, tokens
    request_throttle: Throttle  # requests that send mail

    @property
    def token_issuer(self) -> TokenIssuer:
        return TokenIssuer(settings=self.settings, codec=self.codec, key_factory=self.key_factory)

    @property
    def session_starter(self) -> SessionStarter:
        return SessionStarter(settings=self.settings, token_issuer=self.token_issuer)

    @property
    def second_factor(self) -> SecondFactorCheck:
        return SecondFactorCheck(totp=self.totp, throttle=self.throttle)

    def __call__(self, use_case: type[T]) -> T:
        """`use_case` built with the ports its fields name (defaults kept for the rest)."""
        fields: tuple[Any, ...] = attrs.fields(use_case)  # type: ignore[arg-type]
        given = {f.name: getattr(self, f.name) for f in fields if f.init and hasattr(self, f.name)}
        return use_case(**given)


async def operator(ports: IdentityPorts, os_user: str = "tester") -> OperatorPrincipal:
    """The caller the CLI would be for `os_user`: an admin operator account with MFA."""
    started = await ports(StartOperatorSession)(os_user=os_user, client=ClientContext())
    assert isinstance(started, Success), started
    return started.unwrap()
