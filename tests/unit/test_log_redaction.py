"""A calendar feed's URL is its secret: request paths reach the logs with the token replaced,
through uvicorn's access log and through our own error logs."""

from __future__ import annotations

import logging

from litestar import Litestar

from entrypoints.http.logging import RedactedAccessLog, _redact_path, redacted
from entrypoints.http.server import server_config

TOKEN = "Zq3v0x-1H2kR9sVt_8mWfP4nL6yB5cD7eA0gJ2hK4uM"


def test_a_feed_path_loses_its_token_and_other_paths_stay() -> None:
    assert redacted(f"/calendar/{TOKEN}.ics") == "/calendar/[token].ics"
    assert redacted(f"/calendar/{TOKEN}.ics?x=1") == "/calendar/[token].ics?x=1"
    assert redacted("/bookings/42") == "/bookings/42"


def test_an_export_download_path_loses_its_token() -> None:
    assert redacted(f"/exports/{TOKEN}") == "/exports/[token]"
    assert redacted(f"/exports/{TOKEN}?x=1") == "/exports/[token]?x=1"
    assert redacted("/me/export") == "/me/export"


def test_uvicorns_access_log_is_redacted_once_the_server_is_configured() -> None:
    server_config(Litestar(), host="127.0.0.1", port=8000)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/calendar/{TOKEN}.ics", "1.1", 200), None,
    )  # fmt: skip

    filters = logging.getLogger("uvicorn.access").filters
    assert [f for f in filters if isinstance(f, RedactedAccessLog)]
    assert all(f.filter(record) for f in filters)
    assert TOKEN not in record.getMessage()
    assert "/calendar/[token].ics" in record.getMessage()


def test_our_error_logs_name_the_path_without_the_token() -> None:
    event = _redact_path(None, "error", {"event": "server error", "path": f"/calendar/{TOKEN}.ics"})

    assert event["path"] == "/calendar/[token].ics"
