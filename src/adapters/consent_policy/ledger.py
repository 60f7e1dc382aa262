"""Which channels messaging may use for a purpose, read from the consent ledger (ADR 26).

The rules, per (purpose, channel):
- transactional by email: always (not based on consent; it cannot be withdrawn);
- reminders by email: yes, unless the person withdrew (reminders, email) in the ledger;
- marketing: only with a standing grant (not withdrawn, not stale) for that channel;
- anything by WhatsApp also needs the channel itself: a phone number and the WhatsApp opt-in of
  the contact preferences. That opt-in (`whatsapp_opt_in_at`) counts as a grant of
  transactional and reminder messages by WhatsApp given at that instant: the latest of it and
  the ledger's entry for the key decides, so a withdrawal in the ledger after the opt-in wins,
  and opting in again later is a fresh grant. Ending the opt-in stops WhatsApp altogether.
"""

from __future__ import annotations

from core.consent import AnalyticsConsent, CheckConsent, Decision, Subject, TrackedSubject
from core.consent import Channel as ConsentChannel
from core.consent import Purpose as ConsentPurpose
from core.messaging import Channel, ConsentPolicy, ContactPreferences, Purpose
from core.shared.ids import UserId


class LedgerConsentPolicy(ConsentPolicy):
    def __init__(self, check: CheckConsent) -> None:
        self._check = check

    async def allows(
        self, user_id: UserId, purpose: Purpose, channel: Channel, preferences: ContactPreferences
    ) -> bool:
        if channel is Channel.WHATSAPP and (
            preferences.phone is None or preferences.whatsapp_opt_in_at is None
        ):
            return False
        if purpose is Purpose.TRANSACTIONAL and channel is Channel.EMAIL:
            return True
        state = await self._check.state(
            Subject.user(user_id), ConsentPurpose(purpose.value), ConsentChannel(channel.value)
        )
        if purpose is Purpose.MARKETING:
            return state is not None and state.granted
        if channel is Channel.EMAIL:  # reminders by email: opt-out
            return state is None or state.entry.decision is Decision.GRANTED
        # Transactional and reminders by WhatsApp: the opt-in is a grant at its instant.
        opted_in = preferences.whatsapp_opt_in_at
        if state is None or (opted_in is not None and opted_in > state.entry.at):
            return True
        return state.granted


class LedgerAnalyticsConsent(AnalyticsConsent):
    """Analytics only for a person or an anonymous visitor with a standing grant of
    (analytics, web) in the ledger (not withdrawn, not stale): checked at queueing and at
    sending, so a withdrawal stops what is still queued."""

    def __init__(self, check: CheckConsent) -> None:
        self._check = check

    async def granted(self, subject: TrackedSubject) -> bool:
        whose = Subject.anonymous(subject) if isinstance(subject, str) else Subject.user(subject)
        return await self._check.granted(whose, ConsentPurpose.ANALYTICS, ConsentChannel.WEB)
