"""Single-use tokens that travel by mail, sealed in the outbox until the mail is written.

Identity seals a token for the event that asks for the mail (`mailed_token_purpose`); the
messaging context opens it at send time (`open_mailed_token`). One function for both, so the
purpose a token is sealed for and the purpose it is opened with cannot drift apart.
"""

from __future__ import annotations

import base64
import uuid

from core.shared.events import Event
from core.shared.ids import UserId
from core.shared.keyring import Keyring, Sealed


def mailed_token_purpose(event_name: str, user_id: UserId) -> str:
    """What a mailed token is sealed for: the event and its user, so it opens nowhere else."""
    return f"{event_name}/{user_id}"


async def open_mailed_token(keyring: Keyring, event: Event) -> str:
    """The raw token of a mail event (outbox payload `user_id`, `sealed_token`, base64);
    SealBroken if the payload was altered or belongs to another event or user."""
    sealed = Sealed.from_bytes(base64.b64decode(event.payload["sealed_token"]))
    purpose = mailed_token_purpose(event.name, UserId(uuid.UUID(event.payload["user_id"])))
    return (await keyring.open(sealed, purpose=purpose)).decode()
