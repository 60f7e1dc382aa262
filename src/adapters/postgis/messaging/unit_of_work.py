"""The messaging unit of work: one connection and transaction, every messaging repository, and
the job queue deferring in that same transaction (a job exists exactly when its rows do)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.jobs import PostgisJobs
from adapters.postgis.messaging.calendar import PostgisCalendarFeeds, PostgisCalendarSequences
from adapters.postgis.messaging.contacts import (
    PostgisPreferences,
    PostgisServiceWindows,
    PostgisUndeliverable,
)
from adapters.postgis.messaging.messages import PostgisMessages
from adapters.postgis.messaging.reads import (
    PostgisBookingFacts,
    PostgisEventLog,
    PostgisPeople,
    PostgisReminderPlans,
)
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.messaging.ports import Jobs, MessagingUnitOfWork
from core.shared.personal import PersonalData
from core.shared.unit_of_work import Access

JobsOf = Callable[[PostgisUnitOfWork], Jobs]


def postgis_jobs(uow: PostgisUnitOfWork) -> Jobs:
    """procrastinate's jobs, deferred on the unit of work's connection (adapters.postgis.jobs)."""
    return PostgisJobs(uow)


class PostgisMessagingUnitOfWork(PostgisUnitOfWork, MessagingUnitOfWork):
    """`personal` seals and opens the addresses and phones of people (migration 0016)."""

    def __init__(
        self,
        engine: AsyncEngine,
        access: Access,
        *,
        personal: PersonalData,
        jobs: JobsOf = postgis_jobs,
    ) -> None:
        super().__init__(engine, access)
        self.events = PostgisEventLog(self)
        self.people = PostgisPeople(self, personal)
        self.bookings = PostgisBookingFacts(self)
        self.messages = PostgisMessages(self, personal)
        self.preferences = PostgisPreferences(self, personal)
        self.reminder_plans = PostgisReminderPlans(self)
        self.undeliverable = PostgisUndeliverable(self, personal)
        self.windows = PostgisServiceWindows(self, personal)
        self.calendar = PostgisCalendarSequences(self)
        self.feeds = PostgisCalendarFeeds(self)
        self.jobs = jobs(self)

    @classmethod
    def factory(cls, engine: AsyncEngine, personal: PersonalData) -> Callable[[Access], Self]:
        return lambda access: cls(engine, access, personal=personal)
