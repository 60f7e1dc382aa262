"""Google Analytics 4 through its Measurement Protocol (docs/adr/0029)."""

from adapters.ga4.client import (
    GA4_ENDPOINT,
    Ga4InvalidEvents,
    Ga4MeasurementProtocol,
    Ga4Unavailable,
)

__all__ = ["GA4_ENDPOINT", "Ga4InvalidEvents", "Ga4MeasurementProtocol", "Ga4Unavailable"]
