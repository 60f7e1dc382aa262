"""`python -m devservers.messaging_fake --port P [--parent-pid X] [--state-file F]
[--sendgrid-webhook-url U] [--whatsapp-webhook-url U --whatsapp-app-secret S]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from devservers.child_process import child_parser, child_uvicorn
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
    child_uvicorn(app, args, lifespan="on").run()


def _parser() -> argparse.ArgumentParser:
    parser = child_parser("python -m devservers.messaging_fake", __doc__)
    parser.add_argument("--state-file", type=Path, help="keep what was sent here (JSON)")
    parser.add_argument("--sendgrid-webhook-url", help="where SendGrid events are POSTed")
    parser.add_argument("--whatsapp-webhook-url", help="where WhatsApp webhooks are POSTed")
    parser.add_argument("--whatsapp-app-secret", help="the app secret signing WhatsApp webhooks")
    return parser


if __name__ == "__main__":
    main()
