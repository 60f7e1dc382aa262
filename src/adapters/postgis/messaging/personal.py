"""What messaging's tables keep of people, and how (issue 10; migration 0016): the fields
values are sealed or hashed for (`PersonalData`), the normalisation lookups compare, and the
scrubbing of provider errors that may quote an address or a number."""

from __future__ import annotations

import re

from core.shared.personal import PersonalData

ADDRESS = "messaging.address"  # a message's address (email or E.164); bounced addresses' hash
PHONE = "messaging.phone"  # a person's WhatsApp number; service windows' hash
_EMAIL = re.compile(r"[^\s<>@\"'(),;:]+@[^\s<>@\"'(),;:]+")
_NUMBER = re.compile(r"\+[1-9][0-9 ]{6,18}[0-9]")


def scrub(text: str | None, *addresses: str | None) -> str | None:
    """`text` without `addresses`, email addresses or E.164 numbers (a provider's bounce reason
    or refusal may quote them; errors are kept, and read by staff and admins)."""
    if text is None:
        return None
    for address in addresses:
        if address:
            text = text.replace(address, "<address>")
    return _NUMBER.sub("<number>", _EMAIL.sub("<address>", text))


def normalised_address(address: str) -> str:
    """The address as bounces compare it: a bounce of Ana@X.org stops ana@x.org."""
    return address.strip().lower()


async def address_hash(personal: PersonalData, address: str) -> str:
    return await personal.lookup_hash(normalised_address(address), field=ADDRESS)


async def phone_hash(personal: PersonalData, phone: str) -> str:
    return await personal.lookup_hash(phone.strip(), field=PHONE)
