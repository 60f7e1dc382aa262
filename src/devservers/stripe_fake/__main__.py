"""`python -m devservers.stripe_fake --port N [--webhook-url URL --webhook-secret whsec_...]`"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from devservers.child_process import child_parser, child_uvicorn
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
    server = child_uvicorn(app, args, lifespan="on")
    app.drop_connection = lambda client: _abort(server, client)
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


def _parser() -> argparse.ArgumentParser:
    parser = child_parser("python -m devservers.stripe_fake", __doc__)
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
    return parser


if __name__ == "__main__":
    main()
