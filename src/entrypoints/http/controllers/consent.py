"""Consent: the privacy and cookie policies, a person's consents, cookie choices before login
and their merge at login (ADR 26).

Policies and cookie categories are public. `POST /cookies/choices` needs no login: the
browser keeps the `anonymous_id` it is answered with (minted on its first call) and sends it
back with later choices and, once signed in, to `POST /me/consents/merge`. Everything else is
the signed-in person's own ledger; publishing a policy is for admins.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from core.consent import (
    Channel,
    ConsentEntry,
    ConsentState,
    CookieCategory,
    CookieCategoryInfo,
    Decision,
    GetPolicy,
    GrantConsent,
    ListCookieCategories,
    ListMyConsents,
    MergeAnonymousConsents,
    PolicyKind,
    PolicyVersion,
    PublishPolicy,
    Purpose,
    RecordCookieChoices,
    WithdrawConsent,
    parse_anonymous_id,
)
from core.shared.principal import Principal
from entrypoints.http.auth import PUBLIC, SECURITY
from entrypoints.http.problems import PUBLIC_PROBLEMS, SIGNED_IN_PROBLEMS, ok

Hash = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
AnonymousIdText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class PolicyOut(msgspec.Struct, frozen=True):
    kind: str
    version: int
    text: str
    text_hash: str  # SHA-256 hex of `text`: send it back as `wording_hash` with a decision
    requires_fresh_consent: bool
    published_at: datetime

    @classmethod
    def of(cls, policy: PolicyVersion) -> PolicyOut:
        return cls(
            kind=policy.kind.value,
            version=policy.version,
            text=policy.text,
            text_hash=policy.text_hash,
            requires_fresh_consent=policy.requires_fresh_consent,
            published_at=policy.published_at,
        )


class PolicyIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: PolicyKind
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=200_000)]
    requires_fresh_consent: bool = False


class EntryOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    purpose: str
    channel: str
    seq: int
    decision: str
    policy_kind: str
    policy_version: int | None
    wording_hash: str
    method: str
    at: datetime
    merged_from: str | None

    @classmethod
    def of(cls, entry: ConsentEntry) -> EntryOut:
        return cls(
            id=entry.id,
            purpose=entry.key.purpose.value,
            channel=entry.key.channel.value,
            seq=entry.seq,
            decision=entry.decision.value,
            policy_kind=entry.policy_kind.value,
            policy_version=entry.policy_version,
            wording_hash=entry.wording_hash,
            method=entry.method.value,
            at=entry.at,
            merged_from=entry.merged_from,
        )


class StateOut(msgspec.Struct, frozen=True):
    purpose: str
    channel: str
    granted: bool  # standing now: granted, and not made stale by a newer policy
    stale: bool  # a grant under a policy version that asked for fresh consent since
    latest: EntryOut

    @classmethod
    def of(cls, state: ConsentState) -> StateOut:
        return cls(
            purpose=state.key.purpose.value,
            channel=state.key.channel.value,
            granted=state.granted,
            stale=state.stale,
            latest=EntryOut.of(state.entry),
        )


class ConsentsOut(msgspec.Struct, frozen=True):
    current: list[StateOut]
    history: list[EntryOut]


class ConsentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One decision. `wording_hash`: SHA-256 hex of the wording shown (default: the current
    policy's text); `policy_version`: the version shown (refused with 409 if not current)."""

    purpose: Purpose
    channel: Channel
    decision: Decision
    wording_hash: Hash | None = None
    policy_version: int | None = None


class CategoryOut(msgspec.Struct, frozen=True):
    category: str
    description: str
    always_on: bool

    @classmethod
    def of(cls, info: CookieCategoryInfo) -> CategoryOut:
        return cls(
            category=info.category.value, description=info.description, always_on=info.always_on
        )


class CookieChoicesIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The browser's choices; `anonymous_id` as answered before (none on the first call)."""

    choices: dict[CookieCategory, bool]
    anonymous_id: AnonymousIdText | None = None
    wording_hash: Hash | None = None
    policy_version: int | None = None


class CookieChoicesOut(msgspec.Struct, frozen=True):
    anonymous_id: str  # keep it (e.g. in a first-party cookie) and send it back
    granted: dict[str, bool]


class MergeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    anonymous_id: AnonymousIdText


class MergedOut(msgspec.Struct, frozen=True):
    merged: list[EntryOut]


def _kind(text: str) -> PolicyKind:
    try:
        return PolicyKind(text)
    except ValueError:
        known = ", ".join(k.value for k in PolicyKind)
        raise NotFoundException(detail=f"policies are {known}") from None


_public = partial(get, tags=["privacy"], opt={PUBLIC: True}, responses=PUBLIC_PROBLEMS)


@_public(
    "/privacy/policies/{kind:str}",
    summary="The current privacy or cookie policy",
    description="Who may call: anyone (no token). `kind`: privacy or cookies.",
)
async def current_policy(kind: FromPath[str], get_policy: NamedDependency[GetPolicy]) -> PolicyOut:
    return PolicyOut.of(ok(await get_policy(_kind(kind))))


@_public(
    "/privacy/policies/{kind:str}/{version:int}",
    summary="One version of the privacy or cookie policy",
    description="Who may call: anyone (no token). Versions count 1, 2, ... per kind.",
)
async def policy_version(
    kind: FromPath[str], version: FromPath[int], get_policy: NamedDependency[GetPolicy]
) -> PolicyOut:
    return PolicyOut.of(ok(await get_policy(_kind(kind), version)))


@post(
    "/admin/privacy/policies",
    summary="Publish a new policy version (admins)",
    description="Who may call: admins, in a session with a second factor (aal2). With "
    "`requires_fresh_consent`, every consent given under an earlier version of that policy is "
    "stale: it counts as none until the person grants it again.",
    tags=["privacy"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=201,
)
async def publish(
    data: JSONBody[PolicyIn],
    principal: NamedDependency[Principal],
    publish_policy: NamedDependency[PublishPolicy],
) -> PolicyOut:
    published = await publish_policy(
        principal, data.kind, data.text, requires_fresh_consent=data.requires_fresh_consent
    )
    return PolicyOut.of(ok(published))


@get(
    "/me/consents",
    summary="My consents: what stands now, and every decision",
    description="Who may call: any signed-in user (their own).",
    tags=["privacy"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
)
async def my_consents(
    principal: NamedDependency[Principal], list_my_consents: NamedDependency[ListMyConsents]
) -> ConsentsOut:
    overview = ok(await list_my_consents(principal))
    return ConsentsOut(
        current=[StateOut.of(s) for s in overview.current],
        history=[EntryOut.of(e) for e in overview.history],
    )


@post(
    "/me/consents",
    summary="Grant or withdraw a consent",
    description="Who may call: any signed-in user (their own). Takes effect at once. "
    "Transactional email cannot be withdrawn (409: it is not based on consent).",
    tags=["privacy"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=201,
)
async def decide(
    data: JSONBody[ConsentIn],
    principal: NamedDependency[Principal],
    grant_consent: NamedDependency[GrantConsent],
    withdraw_consent: NamedDependency[WithdrawConsent],
) -> EntryOut:
    use = grant_consent if data.decision is Decision.GRANTED else withdraw_consent
    entry = await use(
        principal,
        data.purpose,
        data.channel,
        shown_hash=data.wording_hash,
        shown_version=data.policy_version,
    )
    return EntryOut.of(ok(entry))


@post(
    "/me/consents/merge",
    summary="Take over this browser's cookie choices at login",
    description="Who may call: any signed-in user, with the `anonymous_id` their browser got "
    "from POST /cookies/choices. Choices newer than the user's own decisions become theirs; "
    "calling again changes nothing.",
    tags=["privacy"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=200,
)
async def merge(
    data: JSONBody[MergeIn],
    principal: NamedDependency[Principal],
    merge_anonymous_consents: NamedDependency[MergeAnonymousConsents],
) -> MergedOut:
    anonymous_id = ok(parse_anonymous_id(data.anonymous_id))
    merged = ok(await merge_anonymous_consents(principal, anonymous_id))
    return MergedOut(merged=[EntryOut.of(e) for e in merged])


@_public(
    "/cookies/categories",
    summary="The cookie categories a web client may set",
    description="Who may call: anyone (no token). `necessary` is always on and needs no consent.",
)
async def cookie_categories(
    list_cookie_categories: NamedDependency[ListCookieCategories],
) -> list[CategoryOut]:
    return [CategoryOut.of(c) for c in await list_cookie_categories()]


@post(
    "/cookies/choices",
    summary="Record this browser's cookie choices (no login)",
    description="Who may call: anyone (no token). Without `anonymous_id`, one is minted and "
    "returned: keep it and send it with later choices and to POST /me/consents/merge after "
    "signing in.",
    tags=["privacy"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
    status_code=200,
)
async def cookie_choices(
    data: JSONBody[CookieChoicesIn], record_cookie_choices: NamedDependency[RecordCookieChoices]
) -> CookieChoicesOut:
    anonymous_id = None if data.anonymous_id is None else ok(parse_anonymous_id(data.anonymous_id))
    recorded = ok(
        await record_cookie_choices(
            anonymous_id,
            data.choices,
            shown_hash=data.wording_hash,
            shown_version=data.policy_version,
        )
    )
    return CookieChoicesOut(
        anonymous_id=recorded.anonymous_id,
        granted={c.value: on for c, on in recorded.granted.items()},
    )


ROUTES = [
    current_policy,
    policy_version,
    publish,
    my_consents,
    decide,
    merge,
    cookie_categories,
    cookie_choices,
]
