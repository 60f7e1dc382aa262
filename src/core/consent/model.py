"""The consent ledger's values: who decided (a person or an anonymous browser), about what
purpose on which channel, under which policy version and wording, when and how.

The ledger is append-only: a decision is never edited, a later one supersedes it. The current
state of a key (subject, purpose, channel) is its latest entry, unless a policy version that
asks for fresh consent was published after the entry's version: then a grant is *stale* and
counts as no consent until it is given again. A withdrawal never goes stale.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import uuid
from datetime import datetime
from typing import NewType

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import DomainError, InvalidInput
from core.shared.ids import UserId
from core.shared.time import to_utc

EntryId = NewType("EntryId", uuid.UUID)
# Random and opaque, minted by the server for a browser before login ("anon_" + 32 base64url).
AnonymousId = NewType("AnonymousId", str)
_ANONYMOUS = re.compile(r"anon_[A-Za-z0-9_-]{32}")
_HASH = re.compile(r"[0-9a-f]{64}")


class Purpose(enum.StrEnum):
    """Why a person may be contacted or tracked. TRANSACTIONAL by email is not based on
    consent (it performs the contract, GDPR Art. 6(1)(b)): it cannot be withdrawn."""

    TRANSACTIONAL = "transactional"  # account and booking messages
    REMINDERS = "reminders"  # reminders before a booking
    MARKETING = "marketing"  # offers and newsletters; marketing cookies
    ANALYTICS = "analytics"  # usage measurement (GA4); analytics cookies
    PREFERENCES = "preferences"  # cookies that remember choices (language, ...)


class Channel(enum.StrEnum):
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    WEB = "web"  # the browser: cookies and similar storage


class Decision(enum.StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class Method(enum.StrEnum):
    """How the decision was given."""

    API = "api"  # the person, through the API (their account page, an app)
    COOKIE_BANNER = "cookie_banner"  # the web client's banner, possibly before login
    CLI = "cli"  # an operator, on the person's documented request
    IMPORT = "import"  # brought over from an earlier system
    MERGED = "merged"  # an anonymous browser's choice, taken over at login


class PolicyKind(enum.StrEnum):
    PRIVACY = "privacy"
    COOKIES = "cookies"


def policy_kind_for(channel: Channel) -> PolicyKind:
    """The document a decision on `channel` is given under: the cookie policy for the web."""
    return PolicyKind.COOKIES if channel is Channel.WEB else PolicyKind.PRIVACY


def wording_hash(text: str) -> str:
    """SHA-256 hex of the exact wording (UTF-8): what proves which text a person saw."""
    return hashlib.sha256(text.encode()).hexdigest()


def parse_wording_hash(value: str) -> Result[str, InvalidInput]:
    if _HASH.fullmatch(value) is None:
        return Failure(InvalidInput(field="wording_hash", reason="must be 64 lower-case hex"))
    return Success(value)


def new_anonymous_id() -> AnonymousId:
    return AnonymousId("anon_" + secrets.token_urlsafe(24))


def parse_anonymous_id(value: str) -> Result[AnonymousId, InvalidInput]:
    if _ANONYMOUS.fullmatch(value) is None:
        reason = "must be an id this service minted (anon_ and 32 URL-safe characters)"
        return Failure(InvalidInput(field="anonymous_id", reason=reason))
    return Success(AnonymousId(value))


@attrs.frozen(kw_only=True)
class Subject:
    """Whose decision: a user, or an anonymous browser (exactly one)."""

    user_id: UserId | None = None
    anonymous_id: AnonymousId | None = None

    def __attrs_post_init__(self) -> None:
        if (self.user_id is None) == (self.anonymous_id is None):
            raise ValueError("a subject is a user or an anonymous id, exactly one")

    @classmethod
    def user(cls, user_id: UserId) -> Subject:
        return cls(user_id=user_id)

    @classmethod
    def anonymous(cls, anonymous_id: AnonymousId) -> Subject:
        return cls(anonymous_id=anonymous_id)

    def __str__(self) -> str:
        return str(self.user_id) if self.user_id is not None else str(self.anonymous_id)


@attrs.frozen(kw_only=True)
class Key:
    subject: Subject
    purpose: Purpose
    channel: Channel


@attrs.frozen(kw_only=True)
class NewEntry:
    """A decision about to be appended; the store gives it its place (`seq`) in its key."""

    id: EntryId
    key: Key
    decision: Decision
    policy_kind: PolicyKind
    policy_version: int | None  # None: withdrawn before any policy was published
    wording_hash: str  # SHA-256 hex of the wording shown
    method: Method
    at: datetime = attrs.field(converter=to_utc)
    merged_from: AnonymousId | None = None


@attrs.frozen(kw_only=True)
class ConsentEntry:
    """One appended decision. `seq` orders the decisions of one key (1, 2, ...)."""

    id: EntryId
    key: Key
    seq: int
    decision: Decision
    policy_kind: PolicyKind
    policy_version: int | None
    wording_hash: str
    method: Method
    at: datetime = attrs.field(converter=to_utc)
    merged_from: AnonymousId | None = None

    @classmethod
    def of(cls, new: NewEntry, seq: int) -> ConsentEntry:
        return cls(seq=seq, **attrs.asdict(new, recurse=False))


@attrs.frozen(kw_only=True)
class PolicyVersion:
    """One published version of the privacy or the cookie policy. Versions count 1, 2, ...
    per kind; `requires_fresh_consent` makes every grant under an earlier version stale."""

    kind: PolicyKind
    version: int
    text: str
    text_hash: str
    requires_fresh_consent: bool
    published_at: datetime = attrs.field(converter=to_utc)


@attrs.frozen(kw_only=True)
class ConsentState:
    """A key's current state: its latest entry, and whether a later policy made it stale."""

    entry: ConsentEntry
    stale: bool

    @property
    def key(self) -> Key:
        return self.entry.key

    @property
    def granted(self) -> bool:
        return self.entry.decision is Decision.GRANTED and not self.stale


@attrs.frozen(kw_only=True)
class ConsentOverview:
    current: tuple[ConsentState, ...]  # one per key, ordered by purpose and channel
    history: tuple[ConsentEntry, ...]  # every entry, oldest first


class CookieCategory(enum.StrEnum):
    NECESSARY = "necessary"
    PREFERENCES = "preferences"
    ANALYTICS = "analytics"
    MARKETING = "marketing"


@attrs.frozen(kw_only=True)
class CookieCategoryInfo:
    category: CookieCategory
    description: str
    always_on: bool
    purpose: Purpose | None  # the ledger's purpose (channel WEB); None: needs no consent


COOKIE_CATEGORIES: tuple[CookieCategoryInfo, ...] = (
    CookieCategoryInfo(
        category=CookieCategory.NECESSARY,
        description="Signing in, security and load balancing; the site does not work without "
        "them, so they need no consent and cannot be switched off.",
        always_on=True,
        purpose=None,
    ),
    CookieCategoryInfo(
        category=CookieCategory.PREFERENCES,
        description="Remember choices such as language and recent searches.",
        always_on=False,
        purpose=Purpose.PREFERENCES,
    ),
    CookieCategoryInfo(
        category=CookieCategory.ANALYTICS,
        description="Measure how the site is used (Google Analytics, without personal data).",
        always_on=False,
        purpose=Purpose.ANALYTICS,
    ),
    CookieCategoryInfo(
        category=CookieCategory.MARKETING,
        description="Show and measure offers from Reserva and its partners.",
        always_on=False,
        purpose=Purpose.MARKETING,
    ),
)


@attrs.frozen(kw_only=True)
class CookieChoices:
    """What `RecordCookieChoices` answers: the browser's anonymous id (minted if it had none)
    and the current state of its categories."""

    anonymous_id: AnonymousId
    granted: dict[CookieCategory, bool]


# ---------------------------------------------------------------- errors


@attrs.frozen
class NotWithdrawable(DomainError):
    """Transactional email is how the service performs the contract (booking confirmations,
    password resets): it is not based on consent, so there is nothing to withdraw."""

    purpose: str
    channel: str

    @property
    def detail(self) -> str:
        return (
            f"{self.purpose} messages by {self.channel} are needed to provide the service and "
            "are not based on consent; to stop them, close the account"
        )


@attrs.frozen
class NoPolicyPublished(DomainError):
    """A grant records the policy version it was given under: none is published yet."""

    kind: str

    @property
    def detail(self) -> str:
        return f"no {self.kind} policy is published yet: consent cannot be given"


@attrs.frozen
class StalePolicyVersion(DomainError):
    """The client showed a wording that is not the current policy's."""

    kind: str
    current: int

    @property
    def detail(self) -> str:
        return f"the {self.kind} policy changed (now version {self.current}): show it again"
