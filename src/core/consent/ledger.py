"""The ledger's one rule, as pure functions: the current state of a key is its latest entry
(highest `seq`), and a grant given under a policy version older than the newest version that
asks for fresh consent is stale (no consent)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.consent.model import ConsentEntry, ConsentState, Decision, Key, PolicyKind


def is_stale(entry: ConsentEntry, fresh_since: Mapping[PolicyKind, int]) -> bool:
    """`fresh_since`: per policy kind, the newest version published with
    `requires_fresh_consent` (absent: none)."""
    if entry.decision is Decision.WITHDRAWN:
        return False
    needed = fresh_since.get(entry.policy_kind)
    if needed is None:
        return False
    return entry.policy_version is None or entry.policy_version < needed


def latest_per_key(entries: Iterable[ConsentEntry]) -> dict[Key, ConsentEntry]:
    latest: dict[Key, ConsentEntry] = {}
    for entry in entries:
        known = latest.get(entry.key)
        if known is None or entry.seq > known.seq:
            latest[entry.key] = entry
    return latest


def current_state(
    entries: Iterable[ConsentEntry], fresh_since: Mapping[PolicyKind, int]
) -> list[ConsentState]:
    """One state per key, ordered by subject, purpose and channel."""
    states = [
        ConsentState(entry=entry, stale=is_stale(entry, fresh_since))
        for entry in latest_per_key(entries).values()
    ]
    return sorted(states, key=lambda s: (str(s.key.subject), s.key.purpose, s.key.channel))
