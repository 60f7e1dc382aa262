"""`python -m devservers.cloudinary_fake --port N --cloud-name C --api-key K --api-secret S`"""

from __future__ import annotations

import argparse

import uvicorn

from devservers.child_process import exit_with_parent
from devservers.cloudinary_fake.app import Settings, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devservers.cloudinary_fake")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cloud-name", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-secret", required=True)
    parser.add_argument("--max-file-size", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--signature-algorithm", choices=("sha1", "sha256"), default="sha1")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    args = parser.parse_args(argv)
    app = create_app(
        Settings(
            cloud_name=args.cloud_name,
            api_key=args.api_key,
            api_secret=args.api_secret,
            max_file_size=args.max_file_size,
            signature_algorithm=args.signature_algorithm,
        )
    )
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    exit_with_parent(args.parent_pid, server)
    server.run()


if __name__ == "__main__":
    main()
