"""What the HTTP layer needs from the composition root, as a structural type.

The container satisfies it without this package importing the container (and so without
importing dependency-injector): each member is a zero-argument callable, in practice a
provider, called per request so that overrides made after the app was built still apply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from core.bookings.use_cases import (
    AddPlace,
    AddResource,
    CancelBooking,
    CompleteBooking,
    ConfirmBooking,
    CreateOffering,
    CreateProvider,
    GetAvailability,
    GetBooking,
    GetCatalog,
    GetOffering,
    HoldSlot,
    ListMyBookings,
    ListProviderBookings,
    ListProviders,
    MarkNoShow,
    RescheduleBooking,
    ScheduleSessions,
    SearchOfferings,
    SetOpeningHours,
)
from core.shared.idempotency import IdempotencyStore
from core.shared.principal import Authenticator
from entrypoints.http.controllers.identity import IdentityServices


class Services(IdentityServices, Protocol):
    # ---- cross-cutting
    @property
    def authenticator(self) -> Callable[[], Authenticator]: ...
    @property
    def idempotency(self) -> Callable[[], IdempotencyStore]: ...
    @property
    def close(self) -> Callable[[], Awaitable[None]]:
        """Release pools and clients when the app stops."""
        ...

    # ---- catalog management
    @property
    def create_provider(self) -> Callable[[], CreateProvider]: ...
    @property
    def add_place(self) -> Callable[[], AddPlace]: ...
    @property
    def set_opening_hours(self) -> Callable[[], SetOpeningHours]: ...
    @property
    def add_resource(self) -> Callable[[], AddResource]: ...
    @property
    def create_offering(self) -> Callable[[], CreateOffering]: ...
    @property
    def schedule_sessions(self) -> Callable[[], ScheduleSessions]: ...

    # ---- public reads
    @property
    def list_providers(self) -> Callable[[], ListProviders]: ...
    @property
    def get_catalog(self) -> Callable[[], GetCatalog]: ...
    @property
    def get_offering(self) -> Callable[[], GetOffering]: ...
    @property
    def get_availability(self) -> Callable[[], GetAvailability]: ...
    @property
    def search_offerings(self) -> Callable[[], SearchOfferings]: ...

    # ---- bookings
    @property
    def hold_slot(self) -> Callable[[], HoldSlot]: ...
    @property
    def confirm_booking(self) -> Callable[[], ConfirmBooking]: ...
    @property
    def cancel_booking(self) -> Callable[[], CancelBooking]: ...
    @property
    def complete_booking(self) -> Callable[[], CompleteBooking]: ...
    @property
    def mark_no_show(self) -> Callable[[], MarkNoShow]: ...
    @property
    def reschedule_booking(self) -> Callable[[], RescheduleBooking]: ...
    @property
    def get_booking(self) -> Callable[[], GetBooking]: ...
    @property
    def list_my_bookings(self) -> Callable[[], ListMyBookings]: ...
    @property
    def list_provider_bookings(self) -> Callable[[], ListProviderBookings]: ...
