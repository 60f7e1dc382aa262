"""Production log format: one JSON line per event, tracebacks as plain text.

structlog's development default renders rich tracebacks with local variables, which cost
about a second of CPU per logged 500 (measured in bench/): a cheap way to exhaust the API.
"""

from __future__ import annotations

import structlog


def configure_logging() -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=True,
    )
