"""`GET /metrics`: Prometheus' text exposition of every process's metrics and of the
database's operational state (entrypoints.metrics; docs/adr/0033).

Closed unless configured: with METRICS_TOKEN a scraper sends it as a bearer token (compared in
constant time); with METRICS_PUBLIC anyone may read (a scraper on a private network); with
neither the route answers 404, as if it did not exist. Metrics name routes, queues and volumes:
what an attacker would like to know, and nobody outside needs.
"""

from __future__ import annotations

import hmac
from typing import Any

import structlog
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from core.shared.problems import UNAUTHENTICATED, ProblemKind
from entrypoints.http.auth import PUBLIC, bearer_token
from entrypoints.http.observability import OBSERVABILITY, Observability
from entrypoints.http.problems import problem, response
from entrypoints.metrics import render

_log = structlog.get_logger(__name__)
NOT_FOUND = ProblemKind(status=404, slug="not-found", title="Not found")


def _refusal(request: Request[Any, Any, Any], options: Observability) -> Response[bytes] | None:
    if options.metrics_public:
        return None
    path = request.url.path
    if options.metrics_token is None:
        return response(problem(NOT_FOUND, "no route matches this path", path))
    offered = bearer_token(request.headers.get("authorization")) or ""
    if hmac.compare_digest(offered.encode(), options.metrics_token.encode()):
        return None
    detail = "metrics need `Authorization: Bearer <METRICS_TOKEN>`"
    return response(
        problem(UNAUTHENTICATED, detail, path), {"WWW-Authenticate": 'Bearer realm="metrics"'}
    )


@get("/metrics", include_in_schema=False, opt={PUBLIC: True})
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    options: Observability = request.app.state[OBSERVABILITY]
    refused = _refusal(request, options)
    if refused is not None:
        return refused
    state = None
    if options.operations_state is not None:
        try:
            state = await options.operations_state()
        except Exception:  # the process metrics still say something; /health/ready says why
            _log.warning("metrics: the database state could not be read", exc_info=True)
    return Response(content=render(state), media_type=CONTENT_TYPE_LATEST)


ROUTES = [metrics]
