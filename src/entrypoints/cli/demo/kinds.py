"""Kinds of provider: their weekly opening hours, dated exceptions and offerings."""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import TypeAlias

import attrs

from core.bookings.model import (
    BookingRules,
    DatedException,
    LocalInterval,
    OfferingKind,
    WeeklyRule,
)
from entrypoints.cli.demo.world import valid

# ---------------------------------------------------------------- opening hours

_H = 60  # minutes per hour, for readable literals below
_WEEKDAYS = (0, 1, 2, 3, 4)

# weekday -> local opening intervals in minutes since midnight; absent weekdays are closed.
Week: TypeAlias = dict[int, tuple[tuple[int, int], ...]]


def _week(*parts: tuple[Iterable[int], tuple[tuple[int, int], ...]]) -> Week:
    return {day: spans for days, spans in parts for day in days}


OFFICE = _week((_WEEKDAYS, ((9 * _H, 18 * _H),)))
SHOP_WITH_LUNCH = _week(
    (_WEEKDAYS, ((9 * _H, 12 * _H + 30), (14 * _H, 19 * _H))), ((5,), ((9 * _H, 13 * _H),))
)
SALON = _week(((1, 2, 3, 4, 5), ((10 * _H, 19 * _H),)))  # closed Sunday and Monday
SPORTS = _week((_WEEKDAYS, ((7 * _H, 23 * _H),)), ((5, 6), ((8 * _H, 21 * _H),)))
STUDIO = _week((_WEEKDAYS, ((7 * _H, 21 * _H + 30),)), ((5,), ((9 * _H, 14 * _H),)))
LATE = _week((range(7), ((10 * _H, 24 * _H),)))
EVERY_DAY = _week((range(7), ((9 * _H, 19 * _H),)))
SIESTA = _week((range(6), ((10 * _H, 14 * _H), (17 * _H, 21 * _H))))


def weekly_rules(week: Week) -> list[WeeklyRule]:
    return [
        WeeklyRule(weekday=day, interval=valid(LocalInterval.of(opens, closes), "weekly hours"))
        for day, spans in week.items()
        for opens, closes in spans
    ]


@attrs.frozen(kw_only=True)
class ExceptionPlan:
    """Days after the local today: a closed holiday and/or a short day (drawn once, dated later)."""

    closed_in: int | None
    short_in: int | None


def plan_exceptions(rng: random.Random) -> ExceptionPlan:
    closed_in, short_in = rng.sample(range(3, 42), 2)
    return ExceptionPlan(
        closed_in=closed_in if rng.random() < 0.5 else None,
        short_in=short_in if rng.random() < 0.25 else None,
    )


def dated_exceptions(plan: ExceptionPlan, today: date) -> list[DatedException]:
    short = valid(LocalInterval.of(10 * _H, 14 * _H), "short day")
    found = []
    if plan.closed_in is not None:
        found.append(DatedException(day=today + timedelta(days=plan.closed_in)))
    if plan.short_in is not None:
        found.append(DatedException(day=today + timedelta(days=plan.short_in), intervals=(short,)))
    return found


# ---------------------------------------------------------------- provider kinds


@attrs.frozen(kw_only=True)
class Template:
    kind: OfferingKind
    category: str
    name: str
    minutes: tuple[int, ...]  # duration choices
    step: int | None = None  # None: one start per duration
    buffer_after: int = 0
    lead_minutes: int = 60
    horizon_days: tuple[int, ...] = (30, 60, 90)
    price_eur: tuple[int, int]
    capacity: tuple[int, int] = (1, 1)

    def rules(self, rng: random.Random) -> BookingRules:
        duration = rng.choice(self.minutes)
        return BookingRules(
            duration=timedelta(minutes=duration),
            slot_step=timedelta(minutes=self.step or duration),
            buffer_after=timedelta(minutes=self.buffer_after),
            lead_time=timedelta(minutes=self.lead_minutes),
            horizon=timedelta(days=rng.choice(self.horizon_days)),
        )


_appointment = functools.partial(Template, kind=OfferingKind.APPOINTMENT)
_session = functools.partial(
    Template,
    kind=OfferingKind.SESSION,
    lead_minutes=120,
    horizon_days=(45, 60),
    capacity=(8, 20),
)


@attrs.frozen(kw_only=True)
class Kind:
    nouns: tuple[str, ...]
    resource: Callable[[random.Random, int], str]
    weeks: tuple[Week, ...]
    offerings: tuple[Template, ...]


_GIVEN_NAMES = (
    "Ana", "Bruno", "Chen", "Dara", "Elif", "Farid", "Giulia", "Hana", "Ines", "Jonas",
    "Kofi", "Lucia", "Mei", "Nikhil", "Olga", "Pablo", "Quynh", "Rosa", "Sami", "Tomás",
    "Uma", "Viktor", "Wen", "Yusuf", "Zainab",
)  # fmt: skip


def _numbered(noun: str) -> Callable[[random.Random, int], str]:
    return lambda _, n: f"{noun} {n}"


def _lettered(noun: str) -> Callable[[random.Random, int], str]:
    return lambda _, n: f"{noun} {string.ascii_uppercase[n - 1]}"


def _named(noun: str) -> Callable[[random.Random, int], str]:
    return lambda rng, n: f"{noun} {n} · {rng.choice(_GIVEN_NAMES)}"


# fmt: off
KINDS: tuple[Kind, ...] = (
    Kind(
        nouns=("Tennis Club", "Tennis Centre", "Lawn Tennis Club"),
        resource=_numbered("Court"),
        weeks=(SPORTS, LATE),
        offerings=(
            _appointment(category="tennis", name="Tennis court", minutes=(60, 90), step=30,
                         price_eur=(15, 35)),
            _appointment(category="tennis", name="Private tennis lesson", minutes=(60,),
                         lead_minutes=720, price_eur=(40, 70)),
            _session(category="yoga", name="Yoga for players", minutes=(60,), price_eur=(10, 18)),
        ),
    ),
    Kind(
        nouns=("Padel Club", "Padel Arena", "Padel Indoor"),
        resource=_numbered("Court"),
        weeks=(SPORTS, LATE),
        offerings=(
            _appointment(category="padel", name="Padel court", minutes=(90, 60), step=30,
                         price_eur=(20, 40)),
            _appointment(category="padel", name="Padel coaching", minutes=(60,), lead_minutes=720,
                         price_eur=(35, 60)),
            _session(category="pilates", name="Pilates for padel", minutes=(50,),
                     price_eur=(10, 16)),
        ),
    ),
    Kind(
        nouns=("Hair Studio", "Barbershop", "Salon"),
        resource=_named("Chair"),
        weeks=(SALON, SHOP_WITH_LUNCH, SIESTA),
        offerings=(
            _appointment(category="haircut", name="Haircut", minutes=(30, 45), step=15,
                         buffer_after=10, lead_minutes=120, price_eur=(15, 45)),
            _appointment(category="haircut", name="Cut and colour", minutes=(90, 120), step=15,
                         buffer_after=15, lead_minutes=1440, price_eur=(60, 120)),
            _appointment(category="haircut", name="Beard trim", minutes=(20,), step=10,
                         buffer_after=5, price_eur=(10, 20)),
        ),
    ),
    Kind(
        nouns=("Spa", "Massage Studio", "Wellness House"),
        resource=_numbered("Treatment room"),
        weeks=(LATE, SALON, STUDIO),
        offerings=(
            _appointment(category="massage", name="Relaxing massage", minutes=(60, 90), step=30,
                         buffer_after=15, lead_minutes=720, price_eur=(45, 90)),
            _appointment(category="massage", name="Deep tissue massage", minutes=(60,), step=30,
                         buffer_after=15, lead_minutes=720, price_eur=(55, 100)),
            _session(category="yoga", name="Restorative yoga", minutes=(75,), price_eur=(12, 22)),
        ),
    ),
    Kind(
        nouns=("Coworking", "Business Centre", "Work Hub"),
        resource=_lettered("Meeting room"),
        weeks=(OFFICE, SHOP_WITH_LUNCH),
        offerings=(
            _appointment(category="meeting-room", name="Meeting room by the hour", minutes=(60,),
                         step=30, lead_minutes=0, price_eur=(20, 40)),
            _appointment(category="meeting-room", name="Board room, half day", minutes=(240,),
                         step=60, buffer_after=30, lead_minutes=1440, price_eur=(120, 250)),
            _appointment(category="meeting-room", name="Focus booth", minutes=(30,), step=15,
                         lead_minutes=0, price_eur=(5, 12)),
        ),
    ),
    Kind(
        nouns=("Walking Tours", "City Guides", "Urban Trails"),
        resource=_named("Guide"),
        weeks=(EVERY_DAY,),
        offerings=(
            _appointment(category="guide", name="Private guided walk", minutes=(120, 180),
                         step=60, buffer_after=30, lead_minutes=1440, horizon_days=(120, 180),
                         price_eur=(80, 180)),
            _session(category="city-tour", name="Old town walking tour", minutes=(120, 150),
                     price_eur=(15, 30)),
            _session(category="city-tour", name="Food market tour", minutes=(180,),
                     price_eur=(35, 60)),
        ),
    ),
    Kind(
        nouns=("Yoga Studio", "Pilates Studio", "Movement Lab"),
        resource=_numbered("Studio"),
        weeks=(STUDIO, LATE),
        offerings=(
            _session(category="yoga", name="Vinyasa flow", minutes=(60, 75), price_eur=(12, 22)),
            _session(category="pilates", name="Mat pilates", minutes=(50, 55), price_eur=(12, 20)),
            _session(category="yoga", name="Yin yoga", minutes=(75, 90), price_eur=(12, 20)),
        ),
    ),
    Kind(
        nouns=("Cooking School", "Kitchen Academy", "Chef's Table"),
        resource=_numbered("Kitchen"),
        weeks=(SIESTA, LATE, OFFICE),
        offerings=(
            _session(category="cooking-class", name="Pasta from scratch", minutes=(150, 180),
                     price_eur=(45, 80)),
            _session(category="cooking-class", name="Street food night", minutes=(180,),
                     price_eur=(40, 70)),
            _session(category="cooking-class", name="Knife skills", minutes=(120,),
                     price_eur=(30, 55)),
        ),
    ),
)
# fmt: on
