"""A plain HTTP server in a thread standing for one of our webhook endpoints: it keeps every
POST it gets and answers 200. Imported by bare name, like `messaging_fake_support`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

from devservers.net import free_port

T = TypeVar("T")


class PostRecorder(Generic[T]):
    """On 127.0.0.1 at `base_url`; `keep(path, body, headers)` makes what a POST is kept as."""

    def __init__(self, keep: Callable[[str, bytes, Message], T]) -> None:
        self._kept: list[T] = []
        self._keep = keep
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[T]:
        """What was kept since the last take, oldest first."""
        with self._lock:
            taken, self._kept = self._kept, []
        return taken

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with recorder._lock:
                    recorder._kept.append(recorder._keep(self.path, body, self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
