"""Which channels a person may be reached on for a purpose, until the consent ledger exists."""

from __future__ import annotations

from core.messaging.model import Channel, ContactPreferences, Purpose
from core.messaging.ports import ConsentPolicy
from core.shared.ids import UserId


class DefaultConsentPolicy(ConsentPolicy):
    """Transactional mails and reminders by email always; WhatsApp for them only with the
    person's opt-in and a phone number; marketing never (issue 10's ledger will answer it)."""

    async def allows(
        self, user_id: UserId, purpose: Purpose, channel: Channel, preferences: ContactPreferences
    ) -> bool:
        if purpose is Purpose.MARKETING:
            return False
        if channel is Channel.EMAIL:
            return True
        return preferences.whatsapp_opt_in_at is not None and preferences.phone is not None
