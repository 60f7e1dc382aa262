"""In-memory adapters of the payments context's ports: a transactional store, a card
processor fake (idempotency keys, 3-D Secure, declines, refund failures, Radar, Connect,
off-session charges), a fake of the bookings context and a webhook verifier; and
`payments_in_memory()`, which wires every payments use case to them."""

from adapters.memory.payments.bookings_desk import MemoryBookingDesk
from adapters.memory.payments.gateway import (
    ASKS_3DS_ALWAYS,
    ASKS_3DS_ONCE,
    DECLINED,
    DECLINES_LATER,
    GOOD,
    RISKY,
    SLOW,
    Card,
    IdempotencyConflict,
    MemoryPaymentGateway,
    OffSession,
    ProcessorCrash,
    ProcessorRefused,
    RefundMode,
    Webhook,
)
from adapters.memory.payments.setup import InMemoryPayments, PaymentsPorts, payments_in_memory
from adapters.memory.payments.store import (
    AuditRecord,
    InboxRow,
    MemoryDeadlock,
    MemoryPaymentsStore,
    MemoryPaymentsUnitOfWork,
)
from adapters.memory.payments.webhooks import SIGNATURE, MemoryWebhookVerifier, payload_of

__all__ = [
    "ASKS_3DS_ALWAYS",
    "ASKS_3DS_ONCE",
    "DECLINED",
    "DECLINES_LATER",
    "GOOD",
    "RISKY",
    "SIGNATURE",
    "SLOW",
    "AuditRecord",
    "Card",
    "IdempotencyConflict",
    "InMemoryPayments",
    "InboxRow",
    "MemoryBookingDesk",
    "MemoryDeadlock",
    "MemoryPaymentGateway",
    "MemoryPaymentsStore",
    "MemoryPaymentsUnitOfWork",
    "MemoryWebhookVerifier",
    "OffSession",
    "PaymentsPorts",
    "ProcessorCrash",
    "ProcessorRefused",
    "RefundMode",
    "Webhook",
    "payload_of",
    "payments_in_memory",
]
