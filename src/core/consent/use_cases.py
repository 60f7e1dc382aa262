"""The consent context's use cases: one class each, one transaction per call.

Grants and withdrawals append to the ledger and take effect at once: every check reads the
ledger in its own transaction, nothing caches a decision. A person decides for themselves; an
admin may record a decision for someone (the CLI, on the person's documented request).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import ClassVar

import attrs
from returns.result import Failure, Result, Success

from core.consent.ledger import current_state, is_stale
from core.consent.model import (
    COOKIE_CATEGORIES,
    AnonymousId,
    Channel,
    ConsentEntry,
    ConsentOverview,
    ConsentState,
    CookieCategory,
    CookieCategoryInfo,
    CookieChoices,
    Decision,
    EntryId,
    Key,
    Method,
    NewEntry,
    NoPolicyPublished,
    NotWithdrawable,
    PolicyKind,
    PolicyVersion,
    Purpose,
    StalePolicyVersion,
    Subject,
    new_anonymous_id,
    parse_wording_hash,
    policy_kind_for,
    wording_hash,
)
from core.consent.ports import ConsentUnitOfWork
from core.shared.errors import DomainError, Forbidden, InvalidInput, NotFound
from core.shared.ids import UserId, new_id
from core.shared.principal import Principal, require_admin
from core.shared.text import BIDI_CONTROLS
from core.shared.time import Clock
from core.shared.unit_of_work import Access, UnitOfWorkFactory
from core.shared.use_case import UseCase

MAX_POLICY_CHARS = 200_000
_TEXT_CONTROLS_ALLOWED = frozenset("\n\r\t")


def access_for(subject: Subject) -> Access:
    """A user's rows by their id; an anonymous browser's by presenting its id."""
    if subject.user_id is not None:
        return Access.user(subject.user_id)
    return Access.holding(str(subject.anonymous_id))


def clean_policy_text(text: str) -> Result[str, InvalidInput]:
    """Multi-line text: newlines and tabs stay; other control and bidi characters do not."""
    for char in text:
        if char in _TEXT_CONTROLS_ALLOWED:
            continue
        if char in BIDI_CONTROLS or unicodedata.category(char) in {"Cc", "Cs"}:
            reason = f"must not contain control or bidirectional characters (U+{ord(char):04X})"
            return Failure(InvalidInput(field="text", reason=reason))
    if not text.strip():
        return Failure(InvalidInput(field="text", reason="must not be empty"))
    if len(text) > MAX_POLICY_CHARS:
        return Failure(InvalidInput(field="text", reason=f"at most {MAX_POLICY_CHARS} characters"))
    return Success(text)


@attrs.frozen(kw_only=True)
class ConsentUseCase(UseCase):
    uow: UnitOfWorkFactory[ConsentUnitOfWork]
    clock: Clock


async def _record(
    uow: ConsentUnitOfWork,
    key: Key,
    decision: Decision,
    method: Method,
    at_clock: Clock,
    *,
    shown_hash: str | None = None,
    shown_version: int | None = None,
    merged_from: AnonymousId | None = None,
) -> Result[ConsentEntry, DomainError]:
    kind = policy_kind_for(key.channel)
    policy = await uow.policies.current(kind)
    if policy is None and decision is Decision.GRANTED:
        return Failure(NoPolicyPublished(kind=kind.value))
    if policy is not None and shown_version is not None and shown_version != policy.version:
        return Failure(StalePolicyVersion(kind=kind.value, current=policy.version))
    if shown_hash is not None:
        checked = parse_wording_hash(shown_hash)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
    entry = await uow.consents.append(
        NewEntry(
            id=EntryId(new_id()),
            key=key,
            decision=decision,
            policy_kind=kind,
            policy_version=None if policy is None else policy.version,
            wording_hash=shown_hash or (policy.text_hash if policy else wording_hash("")),
            method=method,
            at=at_clock.now(),
            merged_from=merged_from,
        )
    )
    return Success(entry)


def _whose(caller: Principal, user: UserId | None) -> Result[UserId, Forbidden]:
    """The caller themselves, or (admins only) the user they name."""
    if user is None or user == caller.user_id:
        return Success(caller.user_id)
    allowed = require_admin(caller)
    if isinstance(allowed, Failure):
        return Failure(allowed.failure())
    return Success(user)


class _Decide(ConsentUseCase):
    decision: ClassVar[Decision]

    async def __call__(
        self,
        caller: Principal,
        purpose: Purpose,
        channel: Channel,
        *,
        user: UserId | None = None,
        method: Method = Method.API,
        shown_hash: str | None = None,
        shown_version: int | None = None,
    ) -> Result[ConsentEntry, DomainError]:
        """`shown_hash`/`shown_version`: the wording and policy version the client showed
        (default: the current policy's text). `user`: an admin recording for someone."""
        whose = _whose(caller, user)
        if isinstance(whose, Failure):
            return Failure(whose.failure())
        if (
            self.decision is Decision.WITHDRAWN
            and purpose is Purpose.TRANSACTIONAL
            and channel is Channel.EMAIL
        ):
            return Failure(NotWithdrawable(purpose=purpose.value, channel=channel.value))
        key = Key(subject=Subject.user(whose.unwrap()), purpose=purpose, channel=channel)
        async with self.uow(Access(user_id=whose.unwrap(), all_rows=caller.is_admin)) as uow:
            recorded = await _record(
                uow,
                key,
                self.decision,
                method,
                self.clock,
                shown_hash=shown_hash,
                shown_version=shown_version,
            )
            if isinstance(recorded, Success):
                await uow.commit()
        return recorded


class GrantConsent(_Decide):
    """A person (or an admin for them) grants a purpose on a channel, under the current
    policy version."""

    decision: ClassVar[Decision] = Decision.GRANTED


class WithdrawConsent(_Decide):
    """As easy as granting, effective at once. Refused only for transactional email, which is
    not based on consent (`NotWithdrawable`)."""

    decision: ClassVar[Decision] = Decision.WITHDRAWN


class ListMyConsents(ConsentUseCase):
    """A person's current consents and their whole history (an admin: anyone's)."""

    async def __call__(
        self, caller: Principal, *, user: UserId | None = None
    ) -> Result[ConsentOverview, DomainError]:
        whose = _whose(caller, user)
        if isinstance(whose, Failure):
            return Failure(whose.failure())
        subject = Subject.user(whose.unwrap())
        async with self.uow(Access(user_id=whose.unwrap(), all_rows=caller.is_admin)) as uow:
            history = await uow.consents.of_subject(subject)
            fresh = await uow.policies.fresh_consent_since()
        return Success(
            ConsentOverview(current=tuple(current_state(history, fresh)), history=tuple(history))
        )


class CheckConsent(ConsentUseCase):
    """For the service itself (messaging, analytics): whether a subject's consent to a purpose
    on a channel stands now. No entry, a withdrawal or a stale grant: no. Transactional email
    needs none: always yes."""

    async def __call__(self, subject: Subject, purpose: Purpose, channel: Channel) -> bool:
        return await self.granted(subject, purpose, channel)

    async def granted(self, subject: Subject, purpose: Purpose, channel: Channel) -> bool:
        if purpose is Purpose.TRANSACTIONAL and channel is Channel.EMAIL:
            return True
        state = await self.state(subject, purpose, channel)
        return state is not None and state.granted

    async def state(
        self, subject: Subject, purpose: Purpose, channel: Channel
    ) -> ConsentState | None:
        """The key's latest entry and whether it is stale; None if there is none."""
        key = Key(subject=subject, purpose=purpose, channel=channel)
        async with self.uow(access_for(subject)) as uow:
            entry = await uow.consents.latest(key)
            if entry is None:
                return None
            fresh = await uow.policies.fresh_consent_since()
        return ConsentState(entry=entry, stale=is_stale(entry, fresh))


class PublishPolicy(ConsentUseCase):
    """Admins: the next version of the privacy or cookie policy. With
    `requires_fresh_consent`, every grant given under an earlier version of that kind goes
    stale: checks answer no until the person grants again."""

    async def __call__(
        self, caller: Principal, kind: PolicyKind, text: str, *, requires_fresh_consent: bool
    ) -> Result[PolicyVersion, DomainError]:
        allowed = require_admin(caller)
        if isinstance(allowed, Failure):
            return Failure(allowed.failure())
        cleaned = clean_policy_text(text)
        if isinstance(cleaned, Failure):
            return Failure(cleaned.failure())
        async with self.uow(Access.of(caller)) as uow:
            published = await uow.policies.publish(
                kind, cleaned.unwrap(), requires_fresh_consent, self.clock.now()
            )
            await uow.commit()
        return Success(published)


class GetPolicy(ConsentUseCase):
    """Anyone: the current version of a policy, or a given one."""

    async def __call__(
        self, kind: PolicyKind, version: int | None = None
    ) -> Result[PolicyVersion, DomainError]:
        async with self.uow(Access()) as uow:
            found = (
                await uow.policies.current(kind)
                if version is None
                else await uow.policies.get(kind, version)
            )
        if found is None:
            return Failure(NotFound(kind=f"{kind.value} policy", id=str(version or "current")))
        return Success(found)


@attrs.frozen
class ListCookieCategories(UseCase):
    """Anyone: the cookie categories a web client may set; `necessary` is always on."""

    async def __call__(self) -> tuple[CookieCategoryInfo, ...]:
        return COOKIE_CATEGORIES


_BY_CATEGORY = {info.category: info for info in COOKIE_CATEGORIES}


def _cookie_purposes(
    choices: Mapping[CookieCategory, bool],
) -> Result[dict[Purpose, bool], InvalidInput]:
    wanted: dict[Purpose, bool] = {}
    for category, on in choices.items():
        purpose = _BY_CATEGORY[category].purpose
        if purpose is None:
            if not on:
                reason = "necessary cookies are always on"
                return Failure(InvalidInput(field=category.value, reason=reason))
            continue
        wanted[purpose] = on
    return Success(wanted)


async def _web_states(uow: ConsentUnitOfWork, subject: Subject) -> dict[Purpose, bool]:
    """Per purpose with an entry on the web: whether it stands."""
    fresh = await uow.policies.fresh_consent_since()
    return {
        s.key.purpose: s.granted
        for s in current_state(await uow.consents.of_subject(subject), fresh)
        if s.key.channel is Channel.WEB
    }


async def _cookie_states(uow: ConsentUnitOfWork, subject: Subject) -> dict[CookieCategory, bool]:
    states = await _web_states(uow, subject)
    return {
        info.category: info.purpose is None or states.get(info.purpose, False)
        for info in COOKIE_CATEGORIES
    }


class RecordCookieChoices(ConsentUseCase):
    """Anyone, before login: a browser's cookie choices, against its anonymous id (minted
    when it has none). A choice is appended when it differs from the standing one or is the
    first for its category (a refusal is a decision too); a stale grant is granted again."""

    async def __call__(
        self,
        anonymous_id: AnonymousId | None,
        choices: Mapping[CookieCategory, bool],
        *,
        shown_hash: str | None = None,
        shown_version: int | None = None,
    ) -> Result[CookieChoices, DomainError]:
        wanted = _cookie_purposes(choices)
        if isinstance(wanted, Failure):
            return Failure(wanted.failure())
        browser = anonymous_id or new_anonymous_id()
        subject = Subject.anonymous(browser)
        async with self.uow(access_for(subject)) as uow:
            standing = await _web_states(uow, subject)
            for purpose, on in wanted.unwrap().items():
                if standing.get(purpose) == on:  # a first refusal is recorded too
                    continue
                recorded = await _record(
                    uow,
                    Key(subject=subject, purpose=purpose, channel=Channel.WEB),
                    Decision.GRANTED if on else Decision.WITHDRAWN,
                    Method.COOKIE_BANNER,
                    self.clock,
                    shown_hash=shown_hash,
                    shown_version=shown_version,
                )
                if isinstance(recorded, Failure):
                    return Failure(recorded.failure())
            granted = await _cookie_states(uow, subject)
            await uow.commit()
        return Success(CookieChoices(anonymous_id=browser, granted=granted))


class MergeAnonymousConsents(ConsentUseCase):
    """At login (POST /me/consents/merge with the browser's anonymous id): each current
    choice of the anonymous id that is newer than the user's own latest decision on that key
    is appended to the user's ledger, method MERGED, `merged_from` the anonymous id. Choices the
    user made since win. Running it again appends nothing (idempotent). The entries appended."""

    async def __call__(
        self, caller: Principal, anonymous_id: AnonymousId
    ) -> Result[tuple[ConsentEntry, ...], DomainError]:
        anonymous = Subject.anonymous(anonymous_id)
        user = Subject.user(caller.user_id)
        merged: list[ConsentEntry] = []
        async with self.uow(Access(user_id=caller.user_id, key=anonymous_id)) as uow:
            fresh = await uow.policies.fresh_consent_since()
            for state in current_state(await uow.consents.of_subject(anonymous), fresh):
                if state.stale:
                    continue
                source = state.entry
                key = Key(subject=user, purpose=source.key.purpose, channel=source.key.channel)
                mine = await uow.consents.latest(key)
                if mine is not None and mine.at >= source.at:
                    continue
                merged.append(
                    await uow.consents.append(
                        NewEntry(
                            id=EntryId(new_id()),
                            key=key,
                            decision=source.decision,
                            policy_kind=source.policy_kind,
                            policy_version=source.policy_version,
                            wording_hash=source.wording_hash,
                            method=Method.MERGED,
                            at=self.clock.now(),
                            merged_from=anonymous_id,
                        )
                    )
                )
            await uow.commit()
        return Success(tuple(merged))
