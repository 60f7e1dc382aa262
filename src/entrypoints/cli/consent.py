"""`reserva consent show|grant|withdraw` and `reserva policies publish|show`: a person's
consent ledger, and the privacy and cookie policies.

Commands act as the operator account (an admin with a second factor; ADR 8). A decision an
operator records is marked `cli` in the ledger: record one only on the person's documented
request. USER is a user id or an email address.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import attrs
import typer
from rich.table import Table

from core.consent import (
    Channel,
    ConsentEntry,
    ConsentOverview,
    Method,
    PolicyKind,
    PolicyVersion,
    Purpose,
)
from core.shared.ids import UserId
from core.shared.principal import Principal
from entrypoints.cli.console import CliError, out, say, value
from entrypoints.cli.identity import Runner, operator
from entrypoints.container import Container

E = TypeVar("E", Purpose, Channel, PolicyKind)


def _choice(enum: type[E], name: str, text: str) -> E:
    try:
        return enum(text)
    except ValueError:
        known = ", ".join(member.value for member in enum)
        raise CliError(f"{name} must be one of {known}; got {text!r}") from None


async def _user(c: Container, caller: Principal, text: str) -> UserId:
    try:
        return UserId(uuid.UUID(text))
    except ValueError:
        pass
    return value(await c.find_user_by_email()(caller=caller, email=text)).user_id


def _history(entries: Sequence[ConsentEntry]) -> Table:
    table = Table("at (UTC)", "purpose", "channel", "seq", "decision", "policy", "how", "wording")
    for e in entries:
        policy = f"{e.policy_kind} v{e.policy_version}" if e.policy_version else "-"
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.key.purpose.value,
            e.key.channel.value,
            str(e.seq),
            e.decision.value,
            policy,
            e.method.value + (f" from {e.merged_from}" if e.merged_from else ""),
            e.wording_hash[:12],
        )
    return table


def _current(overview: ConsentOverview) -> Table:
    table = Table("purpose", "channel", "standing", "since (UTC)")
    for s in overview.current:
        standing = "granted" if s.granted else ("stale" if s.stale else "withdrawn")
        table.add_row(
            s.key.purpose.value, s.key.channel.value, standing, s.entry.at.strftime("%Y-%m-%d")
        )
    return table


def _policy(policy: PolicyVersion) -> None:
    fresh = " (requires fresh consent)" if policy.requires_fresh_consent else ""
    say(
        f"{policy.kind} policy v{policy.version}, published {policy.published_at:%Y-%m-%d %H:%M}"
        f" UTC{fresh}, sha256 {policy.text_hash}"
    )
    out.print(policy.text, markup=False, highlight=False)


User = Annotated[str, typer.Argument(help="User id or email address.")]
PurposeArg = Annotated[
    str, typer.Argument(help="transactional, reminders, marketing, analytics, preferences.")
]
ChannelArg = Annotated[str, typer.Argument(help="email, whatsapp or web.")]
KindArg = Annotated[str, typer.Argument(help="privacy or cookies.")]


@attrs.frozen
class ConsentCommands:
    run: Runner

    def show(self, user: User) -> None:
        """A person's consents: what stands now, then every decision."""

        async def shown(c: Container) -> ConsentOverview:
            caller = await operator(c)
            return value(await c.list_my_consents()(caller, user=await _user(c, caller, user)))

        overview = self.run(shown)
        out.print(_current(overview))
        out.print(_history(overview.history))

    def _decide(self, user: str, purpose: str, channel: str, *, grant: bool) -> None:
        async def decided(c: Container) -> ConsentEntry:
            # Parsed inside the runner, which turns a CliError into one line and exit 1.
            wanted = _choice(Purpose, "PURPOSE", purpose)
            on = _choice(Channel, "CHANNEL", channel)
            caller = await operator(c)
            use = c.grant_consent() if grant else c.withdraw_consent()
            whose = await _user(c, caller, user)
            return value(await use(caller, wanted, on, user=whose, method=Method.CLI))

        out.print(_history([self.run(decided)]))

    def grant(self, user: User, purpose: PurposeArg, channel: ChannelArg) -> None:
        """Record a grant for a person (on their documented request)."""
        self._decide(user, purpose, channel, grant=True)

    def withdraw(self, user: User, purpose: PurposeArg, channel: ChannelArg) -> None:
        """Record a withdrawal for a person; it takes effect at once."""
        self._decide(user, purpose, channel, grant=False)


@attrs.frozen
class PolicyCommands:
    run: Runner

    def publish(
        self,
        kind: KindArg,
        file: Annotated[Path, typer.Argument(help="The policy's text (UTF-8).")],
        fresh_consent: Annotated[
            bool,
            typer.Option("--fresh-consent", help="Earlier consents under this policy go stale."),
        ] = False,
    ) -> None:
        """Publish the next version of a policy from a file."""

        async def published(c: Container) -> PolicyVersion:
            which = _choice(PolicyKind, "KIND", kind)
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CliError(f"cannot read {file}: {error}") from None
            caller = await operator(c)
            return value(
                await c.publish_policy()(caller, which, text, requires_fresh_consent=fresh_consent)
            )

        policy = self.run(published)
        say(f"published {policy.kind} policy v{policy.version}, sha256 {policy.text_hash}")

    def show(
        self,
        kind: KindArg,
        version: Annotated[int | None, typer.Option(min=1, help="A given version.")] = None,
    ) -> None:
        """Show the current (or a given) version of a policy."""

        async def shown(c: Container) -> PolicyVersion:
            return value(await c.get_policy()(_choice(PolicyKind, "KIND", kind), version))

        _policy(self.run(shown))


def mount(app: typer.Typer, run: Runner) -> None:
    """Add `consent` and `policies` to the CLI, running on the containers `run` builds."""
    consents = ConsentCommands(run)
    consent = typer.Typer(help="A person's consent ledger.", no_args_is_help=True)
    consent.command("show")(consents.show)
    consent.command("grant")(consents.grant)
    consent.command("withdraw")(consents.withdraw)
    app.add_typer(consent, name="consent")
    policies = PolicyCommands(run)
    policy = typer.Typer(help="The privacy and cookie policies.", no_args_is_help=True)
    policy.command("publish")(policies.publish)
    policy.command("show")(policies.show)
    app.add_typer(policy, name="policies")


DEMO_POLICIES = {
    PolicyKind.PRIVACY: (
        "Reserva demo privacy policy, version 1. We keep your email address, your bookings, "
        "payments and the messages we send you to run your bookings, sealed under a key of your "
        "own; you can export or erase them at any time. Full record: docs/privacy.md."
    ),
    PolicyKind.COOKIES: (
        "Reserva demo cookie policy, version 1. Necessary cookies keep you signed in; "
        "preferences, analytics and marketing cookies are set only if you choose them."
    ),
}


async def ensure_demo_policies(c: Container) -> list[PolicyKind]:
    """Publish version 1 of each policy that has none yet (a demo database needs them before
    anyone can grant consent); the kinds published."""
    published = []
    for kind, text in DEMO_POLICIES.items():
        if (await c.get_policy()(kind)).value_or(None) is None:
            value(
                await c.publish_policy()(
                    await operator(c), kind, text, requires_fresh_consent=False
                )
            )
            published.append(kind)
    return published
