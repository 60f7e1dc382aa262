"""`python -m devservers.messaging_fake --port P [--parent-pid X] [--state-file F]
[--sendgrid-webhook-url U] [--whatsapp-webhook-url U --whatsapp-app-secret S]`"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from devservers.child_process import exit_with_parent
from devservers.messaging_fake.app import MessagingFake, Settings


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.whatsapp_webhook_url and not args.whatsapp_app_secret:
        parser.error("--whatsapp-webhook-url needs --whatsapp-app-secret to sign the webhooks")
    app = MessagingFake(
        Settings(
            sendgrid_webhook_url=args.sendgrid_webhook_url,
            whatsapp_webhook_url=args.whatsapp_webhook_url,
            whatsapp_app_secret=args.whatsapp_app_secret,
            state_file=args.state_file,
        )
    )
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    exit_with_parent(args.parent_pid, server)
    server.run()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devservers.messaging_fake", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--state-file", type=Path, help="keep what was sent here (JSON)")
    parser.add_argument("--sendgrid-webhook-url", help="where SendGrid events are POSTed")
    parser.add_argument("--whatsapp-webhook-url", help="where WhatsApp webhooks are POSTed")
    parser.add_argument("--whatsapp-app-secret", help="the app secret signing WhatsApp webhooks")
    return parser


if __name__ == "__main__":
    main()
