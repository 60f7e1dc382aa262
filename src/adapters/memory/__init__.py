"""In-memory adapters of every core port: fast, deterministic fakes for tests, importable by
other services. `in_memory()` wires all of them with a clock you move by hand; the contract
suites in tests/integration run the same assertions against these and the real adapters."""

from adapters.memory.bookings import MemoryBookingsStore
from adapters.memory.clock import FixedClock
from adapters.memory.identity import MemoryIdentityStore, MemorySealedSecrets
from adapters.memory.keyring import MemoryKeyring
from adapters.memory.live_sessions import MemoryLiveSessions
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.sample import SampleCatalog, sample_catalog
from adapters.memory.security_fakes import (
    FakeAccessTokenCodec,
    FakeBreachedPasswords,
    FakePasswordHasher,
    FakeQrRenderer,
    FakeSigningKeyFactory,
    FakeTokenSealer,
    FakeTotpGenerator,
    MemoryRateLimiter,
    MemoryThrottle,
)
from adapters.memory.setup import (
    BookingsPorts,
    IdentityPorts,
    InMemory,
    build,
    fake_identity_ports,
    in_memory,
)

__all__ = [
    "BookingsPorts",
    "FakeAccessTokenCodec",
    "FakeBreachedPasswords",
    "FakePasswordHasher",
    "FakeQrRenderer",
    "FakeSigningKeyFactory",
    "FakeTokenSealer",
    "FakeTotpGenerator",
    "FixedClock",
    "IdentityPorts",
    "InMemory",
    "MemoryBookingsStore",
    "MemoryIdentityStore",
    "MemoryKeyring",
    "MemoryLiveSessions",
    "MemoryOutbox",
    "MemoryRateLimiter",
    "MemorySealedSecrets",
    "MemoryThrottle",
    "SampleCatalog",
    "build",
    "fake_identity_ports",
    "in_memory",
    "sample_catalog",
]
