"""What leaves for Sentry (entrypoints.observability.scrub_event): no credentials, personal
data or frame variables, the request id as a tag, and no events for a client's mistakes."""

from __future__ import annotations

import json
from typing import Any

from core.shared.errors import NotFound
from entrypoints.http.problems import DomainProblem
from entrypoints.observability import redact_text, request_bound, scrub_event

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"


def _event() -> dict[str, Any]:
    return {
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": "refused for bob@example.org at 203.0.113.5, call +44 20 7946 0958",
                    "stacktrace": {"frames": [{"function": "f", "vars": {"password": "hunter2"}}]},
                }
            ]
        },
        "request": {
            "method": "POST",
            "url": "https://api.example/exports/s3cr3t-export-token",
            "query_string": "email=bob@example.org",
            "data": {"password": "hunter2"},
            "cookies": {"session": "abc"},
            "env": {"REMOTE_ADDR": "203.0.113.5"},
            "headers": {
                "Authorization": f"Bearer {JWT}",
                "Cookie": "session=abc",
                "X-Forwarded-For": "203.0.113.5",
                "Stripe-Signature": "t=1,v1=abc",
                "Content-Type": "application/json",
            },
        },
        "user": {"id": "u-1", "email": "bob@example.org", "ip_address": "203.0.113.5"},
        "breadcrumbs": {"values": [{"message": f"sent with key sk_live_abc123 and {JWT}"}]},
    }


def test_an_event_leaves_without_credentials_personal_data_or_frame_variables() -> None:
    with request_bound("req-0123456789"):
        scrubbed = scrub_event(_event(), {})

    assert scrubbed is not None
    sent = json.dumps(scrubbed)
    for leaked in ("bob@example.org", "203.0.113.5", "+44 20", "hunter2", JWT, "sk_live_abc123",
                   "s3cr3t-export-token", "session=abc", "t=1,v1=abc"):  # fmt: skip
        assert leaked not in sent, leaked
    assert scrubbed["request"]["headers"] == {"Content-Type": "application/json"}
    assert set(scrubbed["request"]) == {"method", "url", "query_string", "headers"}
    assert scrubbed["user"] == {"id": "u-1"}
    assert scrubbed["tags"] == {"request_id": "req-0123456789"}
    assert "vars" not in scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert "[email]" in scrubbed["exception"]["values"][0]["value"]


def test_a_clients_mistake_is_not_reported() -> None:
    problem = DomainProblem(NotFound(kind="booking", id="b-1"))

    assert scrub_event(_event(), {"exc_info": (DomainProblem, problem, None)}) is None


def test_credentials_in_free_text_are_redacted() -> None:
    assert redact_text("Authorization: Bearer abc.def-ghi") == "Authorization: [redacted]"
    assert redact_text("whsec_0123abc and SG.aaaaaaaaaaaa.bbbbbbbbbbbb") == (
        "[redacted] and [redacted]"
    )
