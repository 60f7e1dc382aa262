"""`reserva users ...`, `reserva keys ...` and `reserva audit`: accounts, signing keys and the
audit log from the operator's console.

Commands act as the operator account of the OS user running them (`operator`): whoever runs
the CLI already controls the database, so it does not log in, but every change is audited under
that account's id, with `via: operator` and the OS user name. Users are named by email or id.
The container comes from `entrypoints.cli.main` through `mount(app, run)`: this module only
names its type and calls its providers (`c.lock_user()`); it never builds one.
"""

from __future__ import annotations

import getpass
import secrets
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Protocol, TypeVar

import attrs
import typer
from returns.result import Failure
from rich.table import Table

from core.identity import (
    AccountView,
    AuditAction,
    AuditChainCheck,
    AuditEntry,
    AuditQuery,
    ClientContext,
    KekRotated,
)
from core.shared.errors import NotFound
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal
from entrypoints.cli.console import fail, out, say, value
from entrypoints.container import Container

T = TypeVar("T")

CONSOLE = ClientContext(user_agent="reserva-cli")
DEMO_CUSTOMER = "demo.customer@reserva.test"
DEMO_ADMIN = "demo.admin@reserva.test"


class Runner(Protocol):
    """Builds the container, runs `work` on it and releases it; failures become one line."""

    def __call__(self, work: Callable[[Container], Awaitable[T]]) -> T: ...


# ---------------------------------------------------------------- failing clearly


def _instant(option: str, text: str | None) -> datetime | None:
    """ISO 8601; without an offset it means UTC."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} must be an ISO 8601 date or time, e.g. 2026-03-01T09:00Z; got {text!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _user_id(c: Container, caller: Principal, user: str) -> UserId:
    """An id as given, or the id of the account with that email."""
    try:
        return UserId(uuid.UUID(user))
    except ValueError:
        return value(await c.find_user_by_email()(caller=caller, email=user)).user_id


async def operator(c: Container) -> Principal:
    """The caller every command acts as: the operator account of the OS user running the CLI
    (created on first use, and audited as `operator.session_started`)."""
    return value(await c.start_operator_session()(os_user=getpass.getuser(), client=CONSOLE))


def _provider_id(text: str) -> ProviderId:
    try:
        return ProviderId(uuid.UUID(text))
    except ValueError:
        fail(f"{text!r} is not a valid provider id (expected a UUID)")


# ---------------------------------------------------------------- tables


def _users_table(users: Sequence[AccountView]) -> Table:
    table = Table("id", "email", "roles", "staff of", "mfa", "locked", "verified", "created")
    for u in users:
        table.add_row(
            str(u.user_id),
            u.email,
            ", ".join(sorted(u.roles)),
            "\n".join(sorted(str(p) for p in u.provider_ids)),
            "yes" if u.mfa_active else "no",
            "LOCKED" if u.locked else "",
            "yes" if u.email_verified else "no",
            u.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def _actor(entry: AuditEntry) -> str:
    """The OS user for the CLI's operator accounts (their ids say little), else the id."""
    if entry.details.get("via") == "operator":
        return f"operator {entry.details.get('os_user', '')}".rstrip()
    return str(entry.actor_user_id or "")


def _audit_table(entries: Sequence[AuditEntry]) -> Table:
    table = Table("at (UTC)", "action", "actor", "subject", "ip", "details")
    for e in entries:
        details = {k: v for k, v in e.details.items() if k not in ("via", "os_user")}
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            str(e.action),
            _actor(e),
            str(e.subject_user_id or ""),
            e.ip or "",
            " ".join(f"{k}={v}" for k, v in sorted(details.items())),
        )
    return table


# ---------------------------------------------------------------- commands


UserArg = Annotated[str, typer.Argument(help="The user's email or id.")]
ProviderArg = Annotated[str, typer.Argument(help="Provider id.")]


@attrs.frozen
class IdentityCommands:
    """The commands, bound to a runner (methods are typer commands; docstrings are help)."""

    run: Runner

    def create_admin(
        self,
        email: Annotated[str, typer.Argument(help="The new admin's email address.")],
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from stdin.")
        ] = False,
    ) -> None:
        """Create an admin account (the password is prompted for unless --password-stdin)."""
        password = _read_password(password_stdin)

        async def create(c: Container) -> UserId:
            caller = await operator(c)
            found = await c.find_user_by_email()(caller=caller, email=email)
            if not isinstance(found, Failure):
                fail(f"{email} already has an account; use `reserva users grant-admin {email}`")
            if not isinstance(found.failure(), NotFound):
                value(found)
            return await _new_admin(c, caller, email, password)

        user_id = self.run(create)
        out.print(f"admin {email} created with id {user_id}")
        out.print(ENROL_HINT, highlight=False)

    def list_users(
        self,
        after: Annotated[str | None, typer.Option(help="Continue after this email.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 50,
    ) -> None:
        """List accounts by email."""

        async def page(c: Container) -> list[AccountView]:
            caller = await operator(c)
            return value(await c.list_users()(caller=caller, after=after, limit=limit))

        found = self.run(page)
        out.print(_users_table(found))
        if len(found) == limit:
            say(f"more: --after {found[-1].email}")

    def lock(
        self,
        user: UserArg,
        reason: Annotated[str, typer.Option(help="Why; kept in the audit log.")],
    ) -> None:
        """Lock an account: no logins or refreshes; every session ends now."""

        async def lock(c: Container) -> None:
            caller = await operator(c)
            user_id = await _user_id(c, caller, user)
            value(
                await c.lock_user()(caller=caller, user_id=user_id, reason=reason, client=CONSOLE)
            )

        self.run(lock)
        out.print(f"locked {user}")

    def unlock(self, user: UserArg) -> None:
        """Let a locked account log in again."""

        async def unlock(c: Container) -> None:
            caller = await operator(c)
            user_id = await _user_id(c, caller, user)
            value(await c.unlock_user()(caller=caller, user_id=user_id, client=CONSOLE))

        self.run(unlock)
        out.print(f"unlocked {user}")

    def reset_mfa(self, user: UserArg) -> None:
        """Remove a user's TOTP and recovery codes (lost device); ends their sessions."""

        async def reset(c: Container) -> None:
            caller = await operator(c)
            user_id = await _user_id(c, caller, user)
            value(await c.reset_user_mfa()(caller=caller, user_id=user_id, client=CONSOLE))

        self.run(reset)
        out.print(f"MFA reset for {user}; they log in with the password alone and enrol again")

    def grant_staff(self, user: UserArg, provider: ProviderArg) -> None:
        """Make a user staff of a provider (the role needs MFA in their session)."""
        provider_id = _provider_id(provider)

        async def grant(c: Container) -> None:
            caller = await operator(c)
            user_id = await _user_id(c, caller, user)
            value(
                await c.grant_staff()(
                    caller=caller, user_id=user_id, provider_id=provider_id, client=CONSOLE
                )
            )

        self.run(grant)
        out.print(f"{user} is staff of {provider_id}")

    def revoke_staff(self, user: UserArg, provider: ProviderArg) -> None:
        """Remove a user from a provider's staff."""
        provider_id = _provider_id(provider)

        async def revoke(c: Container) -> None:
            caller = await operator(c)
            user_id = await _user_id(c, caller, user)
            value(
                await c.revoke_staff()(
                    caller=caller, user_id=user_id, provider_id=provider_id, client=CONSOLE
                )
            )

        self.run(revoke)
        out.print(f"{user} is no longer staff of {provider_id}")

    def grant_admin(self, user: UserArg) -> None:
        """Make an existing user an admin (the role needs MFA in their session)."""

        async def grant(c: Container) -> None:
            caller = await operator(c)
            user_id = await _user_id(c, caller, user)
            value(await c.grant_admin()(caller=caller, user_id=user_id, client=CONSOLE))

        self.run(grant)
        out.print(f"{user} is an admin")

    def revoke_admin(self, user: UserArg) -> None:
        """Take the admin role away."""

        async def revoke(c: Container) -> None:
            caller = await operator(c)
            user_id = await _user_id(c, caller, user)
            value(await c.revoke_admin()(caller=caller, user_id=user_id, client=CONSOLE))

        self.run(revoke)
        out.print(f"{user} is no longer an admin")

    def rotate_keys(self) -> None:
        """Sign new access tokens with a new key. The old key keeps verifying (and stays in
        the JWKS) until every token it signed has expired."""

        async def rotate(c: Container) -> str:
            caller = await operator(c)
            return value(await c.rotate_signing_key()(caller=caller, client=CONSOLE))

        out.print(f"new signing key {self.run(rotate)}")

    def rotate_kek(self) -> None:
        """Make a new key-encryption key active and re-wrap every sealed secret under it, while
        the service runs: servers pick the new key up from the key file, and the old key keeps
        opening what it wrapped until you delete its entry from the file."""

        async def rotate(c: Container) -> KekRotated:
            caller = await operator(c)
            return value(await c.rotate_key_encryption_key()(caller=caller, client=CONSOLE))

        rotated = self.run(rotate)
        out.print(
            f"new key-encryption key {rotated.kek_id}; {rotated.rewrapped} secrets re-wrapped"
        )

    def audit(
        self,
        ctx: typer.Context,
        user: Annotated[
            str | None,
            typer.Option(help="Entries where this user (email or id) acted or was acted on."),
        ] = None,
        action: Annotated[AuditAction | None, typer.Option(help="Only this action.")] = None,
        since: Annotated[
            str | None, typer.Option(help="From this instant on (ISO 8601; UTC if no offset).")
        ] = None,
        until: Annotated[str | None, typer.Option(help="Before this instant.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 100,
    ) -> None:
        """Show the audit log, newest first (`reserva audit verify` checks its hash chain)."""
        if ctx.invoked_subcommand is not None:
            return
        window = (_instant("--since", since), _instant("--until", until))

        async def entries(c: Container) -> list[AuditEntry]:
            caller = await operator(c)
            query = AuditQuery(
                user_id=await _user_id(c, caller, user) if user else None,
                action=action,
                since=window[0],
                until=window[1],
                limit=limit,
            )
            return value(await c.query_audit_log()(caller=caller, query=query))

        out.print(_audit_table(self.run(entries)))

    def verify_audit(self) -> None:
        """Walk the audit log's hash chain; exit 1 naming the first entry removed or edited."""

        async def verify(c: Container) -> AuditChainCheck:
            return value(await c.verify_audit_log()(caller=await operator(c)))

        check = self.run(verify)
        if check.broken is not None:
            b = check.broken
            fail(
                f"audit log broken at chain position {b.position}: entry {b.seq} ({b.entry_id}) "
                f"{b.reason}; the {check.entries} entries before it verify"
            )
        out.print(f"audit log verified: {check.entries} entries, head {check.head or '-'}")


ENROL_HINT = (
    "Admin actions need a second factor: log in (POST /auth/login), start TOTP enrolment "
    "(POST /me/mfa/totp; scan the QR code, or GET /me/mfa/totp/qr), then confirm with a code "
    "(POST /me/mfa/totp/confirm): the access token it answers is aal2."
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on stdin")
        return password
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


async def _new_admin(c: Container, caller: Principal, email: str, password: str) -> UserId:
    value(await c.register()(email=email, password=password))
    user_id = value(await c.find_user_by_email()(caller=caller, email=email)).user_id
    value(await c.grant_admin()(caller=caller, user_id=user_id, client=CONSOLE))
    return user_id


def mount(app: typer.Typer, run: Runner) -> None:
    """Add `users`, `keys` and `audit` to the CLI, running on the containers `run` builds."""
    commands = IdentityCommands(run)
    users = typer.Typer(help="Accounts, roles and MFA.", no_args_is_help=True)
    user_commands: list[tuple[str, Callable[..., None]]] = [
        ("create-admin", commands.create_admin),
        ("list", commands.list_users),
        ("lock", commands.lock),
        ("unlock", commands.unlock),
        ("reset-mfa", commands.reset_mfa),
        ("grant-staff", commands.grant_staff),
        ("revoke-staff", commands.revoke_staff),
        ("grant-admin", commands.grant_admin),
        ("revoke-admin", commands.revoke_admin),
    ]
    for name, command in user_commands:
        users.command(name)(command)
    keys = typer.Typer(
        help="Access-token signing keys and the key-encryption keys of secrets at rest.",
        no_args_is_help=True,
    )
    keys.command("rotate")(commands.rotate_keys)
    keys.command("rotate-kek")(commands.rotate_kek)
    app.add_typer(users, name="users")
    app.add_typer(keys, name="keys")
    audit = typer.Typer(help="The audit log.", invoke_without_command=True)
    audit.callback()(commands.audit)
    audit.command("verify")(commands.verify_audit)
    app.add_typer(audit, name="audit")


# ---------------------------------------------------------------- demo accounts


@attrs.frozen(kw_only=True)
class DemoAccount:
    role: str
    email: str
    password: str = attrs.field(repr=False)


async def ensure_demo_accounts(c: Container) -> list[DemoAccount]:
    """Create the demo customer and demo admin if missing; returns those created now (their
    passwords exist nowhere else)."""
    caller = await operator(c)
    created = []
    for role, email in [("customer", DEMO_CUSTOMER), ("admin", DEMO_ADMIN)]:
        found = await c.find_user_by_email()(caller=caller, email=email)
        if not isinstance(found, Failure):
            continue
        password = secrets.token_urlsafe(15)  # 20 characters, 120 bits
        if role == "admin":
            await _new_admin(c, caller, email, password)
        else:
            value(await c.register()(email=email, password=password))
        created.append(DemoAccount(role=role, email=email, password=password))
    return created


def print_demo_accounts(created: Sequence[DemoAccount]) -> None:
    if not created:
        return
    table = Table("demo account", "email", "password", title="Shown once: note them down")
    for account in created:
        table.add_row(account.role, account.email, account.password)
    out.print(table)
    if any(account.role == "admin" for account in created):
        out.print(ENROL_HINT, highlight=False)
