"""Health for load balancers and orchestrators (docs/adr/0033).

- `GET /health/live`: the process answers (restart it if not). Touches nothing else: a
  database outage must not get every API process killed.
- `GET /health/ready`: this process can serve (route traffic to it if so): the database
  answers and is migrated to the code's head, Redis answers, a job worker beat its heart
  recently. 200 with each check "ok", or 503 problem+json naming what failed.

Both are public (probes carry no token) and say nothing secret: check names and short reasons,
never a server's error text.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response, get

from entrypoints.http.auth import PUBLIC
from entrypoints.http.observability import OBSERVABILITY, Observability, ReadinessCheck
from entrypoints.http.problems import MEDIA_TYPE, UNAVAILABLE, problem

CHECK_TIMEOUT_SECONDS = 2.0  # a probe must answer before its own timeout (often 1-5 s)
OK = "ok"

_log = structlog.get_logger(__name__)


class Unready(msgspec.Struct, frozen=True):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    checks: dict[str, str]


@get("/health/live", media_type=MediaType.JSON, include_in_schema=False, opt={PUBLIC: True})
async def live() -> dict[str, str]:
    return {"status": OK}


async def _run(name: str, check: ReadinessCheck) -> dict[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            found = await check()
    except TimeoutError:
        return {name: f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"}
    except Exception as error:
        _log.warning("readiness check failed", check=name, error=type(error).__name__)
        return {name: f"unavailable ({type(error).__name__})"}
    return dict(found)


@get("/health/ready", include_in_schema=False, opt={PUBLIC: True})
async def ready(request: Request[Any, Any, Any]) -> Response[bytes]:
    options: Observability = request.app.state[OBSERVABILITY]
    names = list(options.readiness)
    outcomes = await asyncio.gather(*(_run(n, c) for n, c in options.readiness.items()))
    checks = {name: OK for name in names}
    failed: dict[str, str] = {}
    for outcome in outcomes:
        failed.update(outcome)
    checks.update(failed)
    if not failed:
        return Response(msgspec.json.encode({"status": OK, "checks": checks}),
                        media_type=MediaType.JSON)  # fmt: skip
    base = problem(UNAVAILABLE, "not ready: " + ", ".join(sorted(failed)), request.url.path)
    body = Unready(
        type=base.type, title=base.title, status=base.status, detail=base.detail,
        instance=base.instance, checks=checks,
    )  # fmt: skip
    return Response(
        msgspec.json.encode(body), status_code=503, media_type=MEDIA_TYPE,
        headers={"Retry-After": "5", "Cache-Control": "no-store"},
    )  # fmt: skip


ROUTES = [live, ready]
