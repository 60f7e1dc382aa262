"""Stripe's error responses: `{"error": {"type", "code", "message", "param", ...}}`."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error the API answers with; `body()` is the JSON Stripe would send."""

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.fields: dict[str, Any] = {
            "type": type,
            "message": message,
            "code": code,
            "param": param,
            "decline_code": decline_code,
            **(extra or {}),
        }

    def body(self) -> dict[str, Any]:
        # Stripe leaves out what does not apply rather than sending nulls.
        return {"error": {k: v for k, v in self.fields.items() if v is not None}}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code=code, param=param)


def unexpected_state(message: str) -> StripeError:
    return invalid(message, code="payment_intent_unexpected_state")


def no_such(kind: str, object_id: str, param: str | None = None) -> StripeError:
    """A missing object: 404 when the URL names it, 400 when a parameter does (as Stripe)."""
    status = 404 if param is None else 400
    return StripeError(
        status,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param or "id",
    )
