"""Messaging's ConsentPolicy over the ledger: today's rules stay the defaults, the ledger
decides where it has an entry, and the WhatsApp opt-in counts as a grant at its instant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.consent_policy import LedgerConsentPolicy
from adapters.memory.clock import FixedClock
from adapters.memory.consent import MemoryConsentDatabase
from core.consent import Channel as CChannel
from core.consent import CheckConsent, GrantConsent, PolicyKind, PublishPolicy, WithdrawConsent
from core.consent import Purpose as CPurpose
from core.messaging import Channel, ContactPreferences, Purpose
from core.shared.ids import UserId
from core.shared.principal import Principal, Role

NOW = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
ADMIN = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.ADMIN}), mfa=True)


async def _setup() -> tuple[dict[str, Any], LedgerConsentPolicy, Principal]:
    ports: dict[str, Any] = {"uow": MemoryConsentDatabase(), "clock": FixedClock(NOW)}
    await PublishPolicy(**ports)(ADMIN, PolicyKind.PRIVACY, "p", requires_fresh_consent=False)
    ana = Principal(user_id=UserId(uuid.uuid4()), roles=frozenset({Role.CUSTOMER}))
    return ports, LedgerConsentPolicy(CheckConsent(**ports)), ana


def _prefs(user: UserId, opted_in: datetime | None) -> ContactPreferences:
    return ContactPreferences(user_id=user, phone="+351911111111", whatsapp_opt_in_at=opted_in)


async def test_defaults_without_ledger_entries() -> None:
    _, policy, ana = await _setup()
    none = ContactPreferences(user_id=ana.user_id)
    opted = _prefs(ana.user_id, NOW - timedelta(days=1))
    assert await policy.allows(ana.user_id, Purpose.TRANSACTIONAL, Channel.EMAIL, none)
    assert await policy.allows(ana.user_id, Purpose.REMINDERS, Channel.EMAIL, none)
    assert not await policy.allows(ana.user_id, Purpose.REMINDERS, Channel.WHATSAPP, none)
    assert await policy.allows(ana.user_id, Purpose.REMINDERS, Channel.WHATSAPP, opted)
    assert await policy.allows(ana.user_id, Purpose.TRANSACTIONAL, Channel.WHATSAPP, opted)
    assert not await policy.allows(ana.user_id, Purpose.MARKETING, Channel.EMAIL, none)
    assert not await policy.allows(ana.user_id, Purpose.MARKETING, Channel.WHATSAPP, opted)


async def test_the_ledger_decides_where_it_has_an_entry() -> None:
    ports, policy, ana = await _setup()
    opted = _prefs(ana.user_id, NOW - timedelta(days=1))
    await GrantConsent(**ports)(ana, CPurpose.MARKETING, CChannel.EMAIL)
    assert await policy.allows(ana.user_id, Purpose.MARKETING, Channel.EMAIL, opted)
    await WithdrawConsent(**ports)(ana, CPurpose.REMINDERS, CChannel.EMAIL)
    assert not await policy.allows(ana.user_id, Purpose.REMINDERS, Channel.EMAIL, opted)
    # A withdrawal after the opt-in wins; opting in again later is a fresh grant.
    await WithdrawConsent(**ports)(ana, CPurpose.REMINDERS, CChannel.WHATSAPP)
    assert not await policy.allows(ana.user_id, Purpose.REMINDERS, Channel.WHATSAPP, opted)
    again = _prefs(ana.user_id, NOW + timedelta(minutes=1))
    assert await policy.allows(ana.user_id, Purpose.REMINDERS, Channel.WHATSAPP, again)
    # A ledger grant is not enough without the channel (a phone and the opt-in).
    await GrantConsent(**ports)(ana, CPurpose.MARKETING, CChannel.WHATSAPP)
    no_channel = ContactPreferences(user_id=ana.user_id)
    assert not await policy.allows(ana.user_id, Purpose.MARKETING, Channel.WHATSAPP, no_channel)
    assert await policy.allows(ana.user_id, Purpose.MARKETING, Channel.WHATSAPP, opted)
