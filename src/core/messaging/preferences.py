"""A person's contact preferences: language, phone number, WhatsApp opt-in."""

from __future__ import annotations

import attrs
from returns.result import Failure, Result, Success

from core.messaging.model import ContactPreferences
from core.messaging.ports import MessagingUnitOfWork, PhoneNumbers
from core.shared.errors import InvalidInput
from core.shared.principal import Principal
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

LOCALES = frozenset({"en", "de"})


@attrs.frozen(kw_only=True)
class PreferencesChange:
    """What to change; None leaves a field as it is."""

    locale: str | None = None
    phone: str | None = None  # as typed; validated and stored in E.164
    remove_phone: bool = False  # also ends the WhatsApp opt-in
    whatsapp: bool | None = None  # True: opt in (needs a phone), False: opt out
    region: str | None = None  # ISO 3166 region to read a national number in ("DE")


@attrs.frozen(kw_only=True)
class GetContactPreferences(UseCase):
    """The caller's preferences (defaults when never set: English, no phone, no WhatsApp)."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]

    async def __call__(self, caller: Principal) -> Result[ContactPreferences, InvalidInput]:
        async with self.uow(Access.of(caller)) as uow:
            found = await uow.preferences.get(caller.user_id)
        return Success(found or ContactPreferences(user_id=caller.user_id))


@attrs.frozen(kw_only=True)
class SetContactPreferences(UseCase):
    """Change the caller's preferences. A new phone number ends an opt-in given for the old
    one unless the same change opts in again; opting in keeps the first opt-in's time."""

    uow: UnitOfWorkFactory[MessagingUnitOfWork]
    clock: Clock
    phones: PhoneNumbers

    async def __call__(
        self, caller: Principal, change: PreferencesChange
    ) -> Result[ContactPreferences, InvalidInput]:
        if change.locale is not None and change.locale not in LOCALES:
            reason = f"must be one of {', '.join(sorted(LOCALES))}"
            return Failure(InvalidInput(field="locale", reason=reason))
        phone: str | None = None
        if change.phone is not None and not change.remove_phone:
            phone = self.phones.to_e164(change.phone, change.region)
            if phone is None:
                return Failure(InvalidInput(field="phone", reason="not a valid phone number"))
        now = self.clock.now()
        async with self.uow(Access.of(caller)) as uow:
            current = await uow.preferences.get(caller.user_id) or ContactPreferences(
                user_id=caller.user_id
            )
            updated = current
            if change.locale is not None:
                updated = attrs.evolve(updated, locale=change.locale)
            if change.remove_phone:
                updated = attrs.evolve(updated, phone=None, whatsapp_opt_in_at=None)
            elif phone is not None and phone != current.phone:
                updated = attrs.evolve(updated, phone=phone, whatsapp_opt_in_at=None)
            if change.whatsapp is True:
                if updated.phone is None:
                    reason = "opting in to WhatsApp needs a phone number"
                    return Failure(InvalidInput(field="whatsapp", reason=reason))
                if updated.whatsapp_opt_in_at is None:
                    updated = attrs.evolve(updated, whatsapp_opt_in_at=now)
            elif change.whatsapp is False:
                updated = attrs.evolve(updated, whatsapp_opt_in_at=None)
            if updated != current:
                await uow.preferences.put(updated)
                await uow.commit()
        return Success(updated)
