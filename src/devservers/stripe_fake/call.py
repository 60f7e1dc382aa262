"""What an API handler is given: the parameters and who is asking, on which account."""

from __future__ import annotations

from dataclasses import dataclass

from devservers.stripe_fake.forms import Params
from devservers.stripe_fake.store import PLATFORM


@dataclass(frozen=True)
class Call:
    params: Params
    id: str = ""  # the object id in the URL, if any
    account: str = PLATFORM  # the Stripe-Account header: a connected account's id
    base_url: str = ""  # where the client reached us, for URLs we hand out (3DS, onboarding)
    publishable: bool = False  # authenticated with pk_test_: client_secret must match
