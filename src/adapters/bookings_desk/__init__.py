"""The payments context's view of bookings, over the bookings context's public use cases."""

from adapters.bookings_desk.desk import BookingsDesk, payable_of

__all__ = ["BookingsDesk", "payable_of"]
