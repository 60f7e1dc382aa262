"""A call that needs a provider the deployment has no settings for answers 503 problem+json
naming the setting, not a bare 500."""

from __future__ import annotations

from litestar import get
from litestar.testing import create_test_client

from entrypoints.container import MediaNotConfigured, PaymentsNotConfigured
from entrypoints.http.problems import EXCEPTION_HANDLERS


@get("/photos")
async def photos() -> None:
    raise MediaNotConfigured("photos need CLOUDINARY_URL")


@get("/pay")
async def pay() -> None:
    raise PaymentsNotConfigured("payments need STRIPE_API_KEY and its companions")


def test_a_missing_provider_is_a_503_that_names_its_setting() -> None:
    with create_test_client([photos, pay], exception_handlers=EXCEPTION_HANDLERS) as client:
        for path, setting in (("/photos", "CLOUDINARY_URL"), ("/pay", "STRIPE_API_KEY")):
            answer = client.get(path)

            assert answer.status_code == 503
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert setting in answer.json()["detail"]
