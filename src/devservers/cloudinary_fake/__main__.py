"""`python -m devservers.cloudinary_fake --port N --cloud-name C --api-key K --api-secret S`"""

from __future__ import annotations

from devservers.child_process import child_parser, child_uvicorn
from devservers.cloudinary_fake.app import Settings, create_app


def main(argv: list[str] | None = None) -> None:
    parser = child_parser("python -m devservers.cloudinary_fake")
    parser.add_argument("--cloud-name", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-secret", required=True)
    parser.add_argument("--max-file-size", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--signature-algorithm", choices=("sha1", "sha256"), default="sha1")
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
    child_uvicorn(app, args).run()


if __name__ == "__main__":
    main()
