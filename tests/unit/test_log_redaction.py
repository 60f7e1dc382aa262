"""A calendar feed's URL is its secret: request paths reach the logs with the token replaced,
through uvicorn's access log and through our own error logs. Logs hold no personal data: the
access log drops the client's address, and every line loses emails, phones and IP addresses."""

from __future__ import annotations

import logging

from litestar import Litestar

from entrypoints.http.logging import (
    RedactedAccessLog,
    RedactPersonalData,
    _redact_path,
    _redact_personal,
    redacted,
)
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
    assert "127.0.0.1" not in record.getMessage()  # the client's address is not logged


def test_our_error_logs_name_the_path_without_the_token() -> None:
    event = _redact_path(None, "error", {"event": "server error", "path": f"/calendar/{TOKEN}.ics"})

    assert event["path"] == "/calendar/[token].ics"


def test_a_record_loses_personal_data_in_its_message_arguments_and_traceback() -> None:
    try:
        raise ValueError("provider refused ana@example.org from 198.51.100.7")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "procrastinate.worker", logging.ERROR, __file__, 1, "job %s failed for %s (%r)",
        (42, "+49 30 1234567", {"to": "ana@example.org"}), exc_info,
    )  # fmt: skip

    assert RedactPersonalData().filter(record)
    line = logging.Formatter("%(message)s").format(record)

    for value in ("ana@example.org", "198.51.100.7", "+49 30 1234567"):
        assert value not in line
    assert "job 42 failed for [phone] ({'to': '[email]'})" in line
    assert "ValueError: provider refused [email] from [ip]" in line


def test_structlog_events_lose_personal_data_in_every_value() -> None:
    event = _redact_personal(
        None,
        "error",
        {"event": "mail to bo@example.org bounced", "ip": "2001:db8::1", "count": 3},
    )

    assert event == {"event": "mail to [email] bounced", "ip": "[ip]", "count": 3}
