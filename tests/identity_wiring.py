"""Identity test helpers shared by the unit and integration suites. Use cases are built from one
set of ports (`adapters.memory.setup.IdentityPorts`): `ports(Login)`."""

from __future__ import annotations

from returns.result import Success

from adapters.memory.setup import IdentityPorts
from core.identity import ClientContext, OperatorPrincipal, StartOperatorSession

__all__ = ["IdentityPorts", "operator"]


async def operator(ports: IdentityPorts, os_user: str = "tester") -> OperatorPrincipal:
    """The caller the CLI would be for `os_user`: an admin operator account with MFA."""
    started = await ports(StartOperatorSession)(os_user=os_user, client=ClientContext())
    assert isinstance(started, Success), started
    return started.unwrap()
