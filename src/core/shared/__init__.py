"""Kernel shared by every bounded context: values, ids, clock, the caller, base errors, the
unit-of-work and outbox ports, the use-case mark and the problem tables (docs/adr/0008)."""

from core.shared.errors import DomainError, Forbidden, InvalidInput, NotFound
from core.shared.events import Event
from core.shared.geo import GeoPoint
from core.shared.idempotency import (
    IdempotencyKeyReused,
    IdempotencyStore,
    RequestInFlight,
    StoredResponse,
)
from core.shared.ids import (
    BookingId,
    EventId,
    OccurrenceId,
    OfferingId,
    PlaceId,
    ProviderId,
    ResourceId,
    UserId,
    new_id,
)
from core.shared.keyring import Keyring, KeyStore, SealBroken, Sealed, SealedSecrets
from core.shared.money import Currency, CurrencyMismatch, Money
from core.shared.principal import (
    Authenticator,
    MfaRequired,
    Principal,
    Role,
    may_manage,
    require_admin,
)
from core.shared.problems import PROBLEMS, ProblemKind, ProblemTable
from core.shared.time import Clock, TimeRange, to_utc
from core.shared.unit_of_work import Outbox, UnitOfWork, UnitOfWorkFactory
from core.shared.use_case import UseCase

__all__ = [
    "PROBLEMS",
    "Authenticator",
    "BookingId",
    "Clock",
    "Currency",
    "CurrencyMismatch",
    "DomainError",
    "Event",
    "EventId",
    "Forbidden",
    "GeoPoint",
    "IdempotencyKeyReused",
    "IdempotencyStore",
    "InvalidInput",
    "KeyStore",
    "Keyring",
    "MfaRequired",
    "Money",
    "NotFound",
    "OccurrenceId",
    "OfferingId",
    "Outbox",
    "PlaceId",
    "Principal",
    "ProblemKind",
    "ProblemTable",
    "ProviderId",
    "RequestInFlight",
    "ResourceId",
    "Role",
    "SealBroken",
    "Sealed",
    "SealedSecrets",
    "StoredResponse",
    "TimeRange",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UseCase",
    "UserId",
    "may_manage",
    "new_id",
    "require_admin",
    "to_utc",
]
