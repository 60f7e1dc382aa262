"""A webhook endpoint for the Stripe fake's tests: an HTTP server in a thread that keeps every
request it gets and can be told to fail the next few."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devservers.net import free_port

WEBHOOK_SECRET = "whsec_reserva_test_secret"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_next = 0  # answer 500 to this many requests first
        self.pause = 0.0  # seconds each request takes to answer
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests it was answering at once
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        with self._changed:
            self.received.clear()
            self.fail_next = 0

    def types(self) -> list[str]:
        return [received.event["type"] for received in self.succeeded()]

    def succeeded(self) -> list[Received]:
        with self._changed:
            return [received for received in self.received if received.answered == 200]

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.received):
                left = deadline - time.monotonic()
                assert left > 0, f"webhooks still missing; got {self.received}"
                self._changed.wait(left)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._changed:
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                time.sleep(receiver.pause)
                with receiver._changed:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    status = 500 if failing else 200
                    receiver.received.append(Received(dict(self.headers), body, status))
                    receiver.in_flight -= 1
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
