"""`python -m devservers.stripe_fake --port N [--webhook-url URL --webhook-secret whsec_...]`"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import uvicorn

from devservers.stripe_fake.app import Settings, StripeFake
from devservers.stripe_fake.web import Client


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (whsec_...) to sign the events")
    app = StripeFake(
        Settings(
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            webhook_attempts=args.webhook_attempts,
            webhook_backoff=args.webhook_backoff,
            webhook_concurrency=args.webhook_concurrency,
            state_file=args.state_file,
            refund_failure_delay=args.refund_failure_delay,
        )
    )
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    app.drop_connection = lambda client: _abort(server, client)
    if args.parent_pid is not None:
        threading.Thread(target=_exit_with, args=(args.parent_pid, server), daemon=True).start()
    server.run()


def _abort(server: uvicorn.Server, client: Client) -> bool:
    """Reset the client's connection without a response, as a network failure would.

    ASGI has no way to do this, so it goes through uvicorn's open connections (each protocol
    knows its transport and peer address); False if the connection is not found.
    """
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        if client is not None and getattr(connection, "client", None) == client and transport:
            transport.abort()
            return True
    return False


def _exit_with(parent_pid: int, server: uvicorn.Server) -> None:
    """Stop when the process that started us is gone, so a killed test run leaves no server."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    server.should_exit = True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devservers.stripe_fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--webhook-url", help="where to POST events (settable later: /_test/webhook)"
    )
    parser.add_argument("--webhook-secret", help="the endpoint's signing secret, whsec_...")
    parser.add_argument("--webhook-attempts", type=int, default=4, help="tries per event")
    parser.add_argument("--webhook-backoff", type=float, default=0.1, help="first retry delay, s")
    parser.add_argument(
        "--state-file", type=Path, help="keep the objects here across restarts (JSON)"
    )
    parser.add_argument(
        "--webhook-concurrency",
        type=int,
        default=1,
        help="deliveries at once; above 1 events may arrive out of order, as from Stripe",
    )
    parser.add_argument("--refund-failure-delay", type=float, default=0.3, help="seconds")
    parser.add_argument(
        "--parent-pid", type=int, help="exit when this process is no longer our parent"
    )
    return parser


if __name__ == "__main__":
    main()
