"""Export and erasure orchestration on memory fakes (core.consent.rights), with Hypothesis
properties of erasure: nothing of the erased person in clear, everyone else unchanged, twice
is once, and a crash after any step then resuming ends the same."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success
from rights_support import Passwords, SealedRecords, Sessions, StepClock, plain

from adapters.memory.personal import MemoryPersonalData
from adapters.memory.rights import MemoryPersonalRecords, MemoryRightsDatabase
from core.consent import (
    EXPORT_FORMAT,
    EXPORTS_STEP,
    SHRED_STEP,
    BuildExport,
    DownloadExport,
    ErasureNotRequested,
    ErasureStep,
    ExportGone,
    ExportNow,
    ExportStatus,
    GetErasure,
    GetExport,
    PersonErasedError,
    ReAuthenticationFailed,
    RequestErasure,
    RequestExport,
    RightsSettings,
    RunErasure,
    UnknownExportLink,
    erasure_steps,
)
from core.shared.ids import UserId
from core.shared.principal import Principal, Role


@attrs.define
class World:
    db: MemoryRightsDatabase
    clock: StepClock
    personal: MemoryPersonalData
    messages: SealedRecords
    payments: SealedRecords
    bookings: MemoryPersonalRecords
    sessions: Sessions
    passwords: Passwords

    @property
    def records(self) -> list[SealedRecords | MemoryPersonalRecords]:
        return [self.messages, self.payments, self.bookings]

    def steps(self) -> tuple[ErasureStep, ...]:
        return erasure_steps(
            before_shredding=[self.messages],
            personal_data=self.personal,
            after_shredding=[self.payments, self.bookings],
        )

    def run_erasure(self, steps: tuple[ErasureStep, ...] | None = None) -> RunErasure:
        return RunErasure(uow=self.db, clock=self.clock, steps=steps or self.steps())


def _world() -> World:
    personal = MemoryPersonalData()
    return World(
        db=MemoryRightsDatabase(),
        clock=StepClock(),
        personal=personal,
        messages=SealedRecords("messages", personal, keep=False),
        payments=SealedRecords("payments", personal, keep=True),
        bookings=MemoryPersonalRecords("bookings"),
        sessions=Sessions(),
        passwords=Passwords({}),
    )


def _person() -> UserId:
    return UserId(uuid.uuid4())


async def _seed(world: World, person: UserId, tag: str) -> None:
    await world.messages.add(person, f"{tag}@example.com")
    await world.payments.add(person, f"Card holder {tag}")
    world.bookings.rows[person] = [{"id": tag, "status": "confirmed"}]


def _build(world: World) -> BuildExport:
    return BuildExport(
        uow=world.db, clock=world.clock, settings=RightsSettings(), records=world.records
    )


def _get(world: World) -> GetExport:
    return GetExport(uow=world.db, clock=world.clock, settings=RightsSettings())


async def _ready_link(world: World, person: UserId) -> str:
    await RequestExport(uow=world.db, clock=world.clock)(person)
    (_, export_id) = world.db.jobs[-1]
    await _build(world)(uuid.UUID(export_id))  # type: ignore[arg-type]
    view = (await _get(world)(person)).unwrap()
    assert view.token is not None
    return view.token


async def test_an_export_is_built_by_its_job_and_downloaded_once_ready() -> None:
    world, ana = _world(), _person()
    await _seed(world, ana, "ana")

    pending = (await _get(world)(ana)).unwrap()
    assert pending.export.status is ExportStatus.PENDING
    assert pending.token is None
    assert world.db.jobs == [("build_export", str(pending.export.id))]
    again = (await RequestExport(uow=world.db, clock=world.clock)(ana)).unwrap()
    assert again.id == pending.export.id  # a pending export is reused

    await _build(world)(pending.export.id)
    ready = (await _get(world)(ana)).unwrap()
    assert ready.export.status is ExportStatus.READY
    assert ready.token
    body = (await DownloadExport(uow=world.db, clock=world.clock)(ready.token)).unwrap()

    document = json.loads(body)
    assert document["format"] == EXPORT_FORMAT
    assert document["person"] == str(ana)
    assert document["messages"] == ["ana@example.com"]
    assert document["payments"] == ["Card holder ana"]
    assert document["bookings"] == [{"id": "ana", "status": "confirmed"}]


async def test_a_link_expires_and_a_new_one_replaces_it() -> None:
    world, ana = _world(), _person()
    first = await _ready_link(world, ana)
    second = (await _get(world)(ana)).unwrap().token
    assert second is not None
    download = DownloadExport(uow=world.db, clock=world.clock)

    assert isinstance(await download(first), Failure)  # replaced
    assert isinstance(await download(second), Success)
    world.clock.advance(timedelta(minutes=16))
    assert (await download(second)).failure() == ExportGone()
    assert (await download("nonsense")).failure() == UnknownExportLink()


async def test_an_expired_export_is_built_again() -> None:
    world, ana = _world(), _person()
    await _ready_link(world, ana)
    world.clock.advance(RightsSettings().keep_export)

    view = (await _get(world)(ana)).unwrap()

    assert view.export.status is ExportStatus.PENDING


async def test_erasure_needs_the_password_ends_sessions_and_defers_the_job() -> None:
    world, ana = _world(), _person()
    world.passwords.passwords[ana] = "right"
    caller = Principal(user_id=ana, roles=frozenset({Role.CUSTOMER}))
    request = RequestErasure(
        uow=world.db, clock=world.clock, reauthentication=world.passwords, sessions=world.sessions
    )

    wrong = await request(caller, "wrong")
    assert wrong.failure() == ReAuthenticationFailed()
    assert world.db.jobs == []
    assert world.sessions.ended == []
    assert (await GetErasure(uow=world.db)(ana)).failure() == ErasureNotRequested()

    asked = (await request(caller, "right")).unwrap()
    assert asked.requested_by == "self"
    assert not asked.completed
    assert world.db.jobs == [("erase_person", str(ana))]
    assert world.sessions.ended == [ana]
    assert (await request(caller, "right")).unwrap() == asked  # asked again: the same
    assert world.db.jobs == [("erase_person", str(ana))]


async def test_after_erasure_exports_are_refused_and_stored_ones_deleted() -> None:
    world, ana = _world(), _person()
    await _seed(world, ana, "ana")
    link = await _ready_link(world, ana)

    done = (await world.run_erasure()(ana)).unwrap()

    assert done.completed
    assert done.steps_done == (EXPORTS_STEP, "erase:messages", SHRED_STEP, "erase:payments",
                               "erase:bookings")  # fmt: skip
    assert (await RequestExport(uow=world.db, clock=world.clock)(ana)).failure() == (
        PersonErasedError()
    )
    assert (await _get(world)(ana)).failure() == PersonErasedError()
    assert (await ExportNow(uow=world.db, clock=world.clock, records=[])(ana)).failure() == (
        PersonErasedError()
    )
    assert (await DownloadExport(uow=world.db, clock=world.clock)(link)).failure() == (
        UnknownExportLink()
    )
    assert world.db.state.contents == {}


async def test_a_build_of_a_person_being_erased_deletes_the_export() -> None:
    world, ana = _world(), _person()
    await RequestExport(uow=world.db, clock=world.clock)(ana)
    (_, export_id) = world.db.jobs[-1]
    world.passwords.passwords[ana] = "right"
    caller = Principal(user_id=ana, roles=frozenset({Role.CUSTOMER}))
    await RequestErasure(
        uow=world.db, clock=world.clock, reauthentication=world.passwords, sessions=world.sessions
    )(caller, "right")  # asked for, not run yet

    built = await _build(world)(uuid.UUID(export_id))  # type: ignore[arg-type]

    assert built.failure() == PersonErasedError()
    assert world.db.state.exports == {}


async def test_erasing_an_unknown_person_succeeds_and_changes_nothing_else() -> None:
    world, ana, nobody = _world(), _person(), _person()
    await _seed(world, ana, "ana")
    before = (copy.deepcopy(world.messages.rows), copy.deepcopy(world.bookings.rows))

    done = (await world.run_erasure()(nobody)).unwrap()

    assert done.completed
    assert (world.messages.rows, world.bookings.rows) == before


# --- properties ---------------------------------------------------------------------------

people = st.lists(st.text(alphabet="abcdefghij", min_size=6, max_size=10), min_size=2,
                  max_size=6, unique=True)  # fmt: skip


async def _world_of(tags: list[str]) -> tuple[World, list[UserId]]:
    world = _world()
    persons = [_person() for _ in tags]
    for person, tag in zip(persons, tags, strict=True):
        await _seed(world, person, tag)
    return world, persons


async def _exports(world: World, persons: list[UserId]) -> dict[UserId, str]:
    now = ExportNow(uow=world.db, clock=world.clock, records=world.records)
    found = {}
    for person in persons:
        result = await now(person)
        found[person] = plain(result.unwrap()) if isinstance(result, Success) else "erased"
    return found


def _end_state(world: World) -> object:
    erasures = {p: attrs.evolve(r, completed_at=None) for p, r in world.db.state.erasures.items()}
    return (
        sorted(map(str, world.messages.rows)),
        sorted(map(str, world.payments.rows)),
        world.bookings.rows,
        erasures,
    )


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tags=people, data=st.data())
async def test_erasure_leaves_nothing_in_clear_and_everyone_else_unchanged(
    tags: list[str], data: st.DataObject
) -> None:
    world, persons = await _world_of(tags)
    victim = data.draw(st.sampled_from(persons))
    others = [p for p in persons if p != victim]
    before = await _exports(world, others)

    await world.run_erasure()(victim)
    once = _end_state(world)
    await world.run_erasure()(victim)

    tag = tags[persons.index(victim)]
    raw = world.messages.raw() + world.payments.raw()
    assert tag.encode() not in raw
    assert tag not in repr(world.bookings.rows)
    assert tag not in repr(world.db.state)
    assert await world.payments.export(victim) == [None]  # kept, but no longer opens
    assert await _exports(world, others) == before
    assert _end_state(world) == once  # twice == once


class Crash(Exception):
    pass


@settings(max_examples=40)
@given(tags=people, data=st.data())
async def test_a_crash_after_any_step_then_resuming_ends_the_same(
    tags: list[str], data: st.DataObject
) -> None:
    clean, persons = await _world_of(tags)
    crashed, _ = await _world_of(tags)  # the same values for other ids
    victim_index = data.draw(st.integers(0, len(tags) - 1))
    await clean.run_erasure()(persons[victim_index])

    persons2 = list(crashed.messages.rows)
    victim = persons2[victim_index]
    steps = crashed.steps()
    failing = data.draw(st.integers(0, len(steps) - 1))
    armed = {"left": 1}

    def crashing(step: ErasureStep) -> ErasureStep:
        async def run(person: UserId) -> None:
            await step.run(person)  # the step's effect happens, then the process dies
            if armed["left"]:
                armed["left"] -= 1
                raise Crash

        return ErasureStep(name=step.name, run=run)

    with_crash = tuple(crashing(s) if i == failing else s for i, s in enumerate(steps))
    with pytest.raises(Crash):
        await crashed.run_erasure(with_crash)(victim)
    halfway = crashed.db.state.erasures[victim]
    assert not halfway.completed
    assert halfway.last_error == f"{steps[failing].name}: Crash"
    await crashed.run_erasure(with_crash)(victim)

    def shape(world: World, ps: list[UserId]) -> object:
        index = {p: i for i, p in enumerate(ps)}
        request = world.db.state.erasures[ps[victim_index]]
        return (
            sorted(index[p] for p in world.messages.rows),
            sorted(index[p] for p in world.payments.rows),
            sorted(index[p] for p in world.bookings.rows),
            request.steps_done,
            request.completed,
            request.last_error,
        )

    assert shape(crashed, persons2) == shape(clean, persons)
