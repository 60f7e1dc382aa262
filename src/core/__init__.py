"""Reserva's domain core: pure Python (attrs, returns, stdlib), no I/O.

Public modules, each exporting its names at package level:
- `core.shared`: the kernel every context uses (Money, TimeRange, ids, Principal, errors, ports).
- `core.bookings`: catalog, availability, holds and bookings.
- `core.identity`: accounts, sessions, tokens, MFA, roles, audit.

Wire a use case with adapters (`adapters.postgis`, or `adapters.memory.in_memory()` in tests) and
call it; see docs/importing.md.
"""

from core import bookings, identity, shared

__all__ = ["bookings", "identity", "shared"]
