"""Waiting for a server a test started in another process (API processes, `reserva serve`)."""

from __future__ import annotations

import time

import httpx

STARTUP_SECONDS = 90  # a cold start imports the app and builds a container on a busy machine


def wait_until_answering(url: str, seconds: float = STARTUP_SECONDS) -> httpx.Response:
    """GET `url` until a connection is accepted and the answer is not a 5xx; that answer."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = httpx.get(url, timeout=5)
            if answer.status_code < 500:
                return answer
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"nothing answered at {url} within {seconds} s"
        time.sleep(0.2)
