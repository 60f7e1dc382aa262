from __future__ import annotations

import math

import attrs
from returns.result import Failure, Result, Success

from core.shared.errors import InvalidInput


@attrs.frozen
class GeoPoint:
    lat: float
    lng: float

    @classmethod
    def of(cls, lat: float, lng: float) -> Result[GeoPoint, InvalidInput]:
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            return Failure(InvalidInput(field="lat", reason="must be between -90 and 90"))
        if not (math.isfinite(lng) and -180 <= lng <= 180):
            return Failure(InvalidInput(field="lng", reason="must be between -180 and 180"))
        return Success(cls(lat, lng))

    def distance_m(self, other: GeoPoint) -> float:
        """Great-circle distance on a sphere of the WGS84 mean radius (fakes and tests)."""
        r = 6_371_008.8
        p1, p2 = math.radians(self.lat), math.radians(other.lat)
        dp, dl = p2 - p1, math.radians(other.lng - self.lng)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * r * math.asin(min(1.0, math.sqrt(a)))
