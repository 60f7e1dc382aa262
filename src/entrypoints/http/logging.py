"""Production log format: one JSON line per event, tracebacks as plain text.

structlog's development default renders rich tracebacks with local variables, which cost
about a second of CPU per logged 500 (measured in bench/): a cheap way to exhaust the API.

A calendar feed's URL holds its secret (calendar apps subscribe by URL only), so request paths
are logged with that token replaced, by our loggers and by uvicorn's access log.

Logs hold no personal data (issue 10; docs/privacy.md): uvicorn's access log loses the client's
address (an IP address is personal data, and nothing we do needs it in a log), our code logs
ids, never addresses, and a last line of defence (`core.shared.redaction`) replaces what looks
like an email address, a phone number or an IP address in every line: structlog's events, and
every record through the handlers of the root and uvicorn loggers (procrastinate's and the
worker's error logs, whose exceptions may quote a provider's answer, included).
structlog renders its JSON line and hands it to the standard library, so there is one stream.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from core.shared.redaction import redact_personal

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


NO_CLIENT = "-"  # what the access log shows instead of the client's address


class RedactedAccessLog(logging.Filter):
    """uvicorn's access log lines carry (client, method, full path, HTTP version, status): the
    client's address is dropped and a feed's token masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[0] = NO_CLIENT
            args[2] = redacted(str(args[2]))
            record.args = tuple(args)
        return True


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_personal(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item) for item in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_personal(str(value))  # exceptions, ids, paths: as they would render


def _redact_personal(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog: every value of the event (the formatted traceback too), redacted."""
    for key, value in event.items():
        event[key] = _redact_value(value)
    return event


class RedactPersonalData(logging.Filter):
    """On a handler: the record's message, arguments and traceback, redacted before any
    formatter sees them. Arguments stay arguments (uvicorn's access formatter unpacks them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_personal(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = _redact_value(record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_personal(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_personal(record.stack_info)
        return True


REDACTED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
# Libraries that log whole requests at DEBUG: SendGrid's HTTP client writes the payload (the
# recipient, the mail with its one-time link) and the Authorization header (the API key).
# Held at WARNING whatever the root level is.
QUIET_LOGGERS = ("python_http_client",)


def redact_handlers(*loggers: str) -> None:
    """Put the personal-data filter on every handler of `loggers` (default: root and uvicorn's)
    and on the last-resort handler (records no handler takes). Safe to call again."""
    handlers = [logging.lastResort] if logging.lastResort is not None else []
    for name in loggers or REDACTED_LOGGERS:
        handlers.extend(logging.getLogger(name).handlers)
    for handler in handlers:
        if not any(isinstance(f, RedactPersonalData) for f in handler.filters):
            handler.addFilter(RedactPersonalData())


def redact_access_log() -> None:
    """After uvicorn configured its loggers (creating a `uvicorn.Config` does)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactedAccessLog) for f in access.filters):
        access.addFilter(RedactedAccessLog())
    redact_handlers()


def configure_logging(level: int = logging.INFO) -> None:
    """structlog through the standard library, one JSON line per event; a root handler on
    stderr if there is none; the redaction on every handler. The API and the worker call it."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.stdlib.add_logger_name,
            _redact_path,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_personal,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger bound before a later configuration (tests) follows it. Logging
        # is rare here (errors, sweeps); the lookup costs microseconds.
        cache_logger_on_first_use=False,
    )
    redact_handlers()
