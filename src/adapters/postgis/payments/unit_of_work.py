"""The payments unit of work: one connection and transaction, every payments repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgis.payments.accounts import PostgisProviderAccounts
from adapters.postgis.payments.audit import PostgisMoneyAudit
from adapters.postgis.payments.customers import PostgisProcessorCustomers
from adapters.postgis.payments.inbox import PostgisProcessorInbox
from adapters.postgis.payments.ledger import PostgisLedger
from adapters.postgis.payments.payments import PostgisPaymentRepository
from adapters.postgis.payments.refunds import PostgisRefundRepository
from adapters.postgis.payments.terms import PostgisTermsRepository
from adapters.postgis.unit_of_work import PostgisUnitOfWork
from core.payments.ports import PaymentsUnitOfWork
from core.shared.personal import PersonalData
from core.shared.unit_of_work import Access


class PostgisPaymentsUnitOfWork(PostgisUnitOfWork, PaymentsUnitOfWork):
    """`personal` seals and opens the customers' client addresses (migration 0016)."""

    def __init__(self, engine: AsyncEngine, access: Access, *, personal: PersonalData) -> None:
        super().__init__(engine, access)
        self.payments = PostgisPaymentRepository(self, personal)
        self.refunds = PostgisRefundRepository(self)
        self.terms = PostgisTermsRepository(self)
        self.ledger = PostgisLedger(self)
        self.inbox = PostgisProcessorInbox(self)
        self.accounts = PostgisProviderAccounts(self)
        self.customers = PostgisProcessorCustomers(self)
        self.audit = PostgisMoneyAudit(self)

    @classmethod
    def factory(cls, engine: AsyncEngine, personal: PersonalData) -> Callable[[Access], Self]:
        return lambda access: cls(engine, access, personal=personal)
