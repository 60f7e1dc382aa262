"""Identity's personal fields: the names their values are sealed and hashed under (bound into
each blob and hash, so a value copied to another field does not open), and how an address
becomes its lookup key (docs/privacy.md, "Identity")."""

from __future__ import annotations

from core.identity.model import Email
from core.shared.personal import PersonalData

EMAIL = "identity.email"  # users.email_sealed and users.email_hash
SESSION_IP = "identity.session_ip"
SESSION_USER_AGENT = "identity.session_user_agent"
AUDIT_IP = "identity.audit_ip"
AUDIT_USER_AGENT = "identity.audit_user_agent"
AUDIT_DETAILS = "identity.audit_details"

# Audit details that name or identify a person: kept out of the chained entry, sealed beside it
# (an address typed at a failed login, the OS user of an operator's CLI session).
PERSONAL_DETAILS = frozenset({"email", "os_user"})


async def email_hash(personal: PersonalData, email_key: str) -> str:
    """The lookup hash of an address already lowercased and trimmed (`Email.key`)."""
    return await personal.lookup_hash(Email.key_of(email_key), field=EMAIL)


def looks_like_email_key(key: str) -> bool:
    """Whether an `Access.key` is an address (token digests never hold an '@')."""
    return "@" in key
