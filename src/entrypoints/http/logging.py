"""Production log format: one JSON line per event, tracebacks as plain text.

structlog's development default renders rich tracebacks with local variables, which cost
about a second of CPU per logged 500 (measured in bench/): a cheap way to exhaust the API.

A calendar feed's URL holds its secret (calendar apps subscribe by URL only), so request paths
are logged with that token replaced, by our loggers and by uvicorn's access log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

_FEED_TOKEN = re.compile(r"(/calendar/)[^/?#\s]+(\.ics)")
_EXPORT_TOKEN = re.compile(r"(/exports/)[^/?#\s]+")  # a person's export download link


def redacted(path: str) -> str:
    """`path` with a calendar feed's or an export link's token replaced: what may be written
    to a log."""
    return _EXPORT_TOKEN.sub(r"\1[token]", _FEED_TOKEN.sub(r"\1[token]\2", path))


def _redact_path(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if isinstance(event.get("path"), str):
        event["path"] = redacted(event["path"])
    return event


class RedactedAccessLog(logging.Filter):
    """uvicorn's access log lines carry (client, method, full path, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = redacted(str(args[2]))
            record.args = tuple(args)
        return True


def redact_access_log() -> None:
    """After uvicorn configured its loggers (creating a `uvicorn.Config` does)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactedAccessLog) for f in access.filters):
        access.addFilter(RedactedAccessLog())


def configure_logging() -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _redact_path,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=True,
    )
