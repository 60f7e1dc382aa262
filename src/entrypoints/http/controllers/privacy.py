"""A person's export and erasure (issue 10 §3; docs/adr/0027-export-and-erasure.md).

`GET /me/export` answers the latest export: 202 while a job builds it (one is started when
there is none, or the last one expired), 200 with a download link once it is ready (each call
hands out a fresh link, valid for minutes, and the previous one stops working). The link is
`GET /exports/{token}`: no login, the token is the credential (only its SHA-256 is stored, and
the access log masks it). `POST /me/erasure` needs the caller's current password; it ends
every session of theirs at once and a job erases the rest (`GET /me/erasure` follows it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from core.consent import (
    DownloadExport,
    ErasureRequest,
    Export,
    ExportView,
    GetErasure,
    GetExport,
    RequestErasure,
    RequestExport,
)
from core.shared.principal import Principal
from entrypoints.http.auth import PUBLIC, SECURITY
from entrypoints.http.problems import SIGNED_IN_PROBLEMS, documented, ok

EXPORTS_PATH = "/exports/"


class ExportOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    status: str  # "pending" or "ready"
    requested_at: datetime
    ready_at: datetime | None = None
    expires_at: datetime | None = None  # the export is kept until then
    download_url: str | None = None  # once ready: GET it, without a token
    download_expires_at: datetime | None = None


class ErasureIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: str  # the caller's current password


class ErasureOut(msgspec.Struct, frozen=True):
    status: str  # "requested" or "completed"
    requested_at: datetime
    steps_done: list[str]
    completed_at: datetime | None


def _export(export: Export, url: str | None = None, until: datetime | None = None) -> ExportOut:
    return ExportOut(
        id=export.id,
        status=export.status.value,
        requested_at=export.requested_at,
        ready_at=export.ready_at,
        expires_at=export.expires_at,
        download_url=url,
        download_expires_at=until,
    )


def _erasure(request: ErasureRequest) -> ErasureOut:
    return ErasureOut(
        status="completed" if request.completed else "requested",
        requested_at=request.requested_at,
        steps_done=list(request.steps_done),
        completed_at=request.completed_at,
    )


def _answer(view: ExportView, request: Request[Any, Any, Any]) -> Response[ExportOut]:
    if view.token is None:
        return Response(_export(view.export), status_code=202)
    url = str(request.base_url).rstrip("/") + EXPORTS_PATH + view.token
    return Response(_export(view.export, url, view.link_expires_at), status_code=200)


_NO_STORE = {"Cache-Control": "no-store"}


@get(
    "/me/export",
    summary="My data export: its status, and a download link once ready",
    description="Who may call: any signed-in user (their own data). 202 while the export is "
    "being built (one is started if none is pending or ready); 200 with `download_url` once "
    "ready. Each 200 hands out a new link valid for a few minutes; earlier links stop working. "
    "404 `person-erased` once the caller's erasure was asked for.",
    tags=["privacy"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=200,
)
async def my_export(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    get_export: NamedDependency[GetExport],
) -> Response[ExportOut]:
    answer = _answer(ok(await get_export(principal.user_id)), request)
    answer.headers.update(_NO_STORE)
    return answer


@post(
    "/me/export",
    summary="Start a new export of my data",
    description="Who may call: any signed-in user. 202 with the pending export (a pending one "
    "is answered as it is); follow it with GET /me/export.",
    tags=["privacy"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=202,
)
async def start_export(
    principal: NamedDependency[Principal], request_export: NamedDependency[RequestExport]
) -> ExportOut:
    return _export(ok(await request_export(principal.user_id)))


@get(
    EXPORTS_PATH + "{token:str}",
    summary="Download an export (the link is the credential)",
    description="Who may call: anyone holding the URL GET /me/export handed out (no token: "
    "the link is the credential). 404 for a link that never existed, 410 for one that expired "
    "or was replaced.",
    tags=["privacy"],
    opt={PUBLIC: True},
    responses=documented(400, 404, 410, 503),
    media_type="application/json",
)
async def download_export(
    token: FromPath[str], download_export: NamedDependency[DownloadExport]
) -> Response[bytes]:
    body = ok(await download_export(token))
    return Response(
        content=body,
        media_type="application/json",
        headers={
            **_NO_STORE,
            "Content-Disposition": 'attachment; filename="reserva-export.json"',
        },
    )


@post(
    "/me/erasure",
    summary="Erase my account and my data",
    description="Who may call: any signed-in user, with their current password in the body "
    "(re-authentication). 202: every session ends now, a job erases the rest (GET "
    "/me/erasure, until the session ends). Bookings, payments and the ledger stay, without "
    "anything about the person. 403 `reauthentication-failed` for a wrong password; 429 "
    "after too many.",
    tags=["privacy"],
    security=SECURITY,
    responses=documented(400, 401, 403, 422, 429, 503),
    status_code=202,
)
async def erase_me(
    data: JSONBody[ErasureIn],
    principal: NamedDependency[Principal],
    request_erasure: NamedDependency[RequestErasure],
) -> ErasureOut:
    return _erasure(ok(await request_erasure(principal, data.password)))


@get(
    "/me/erasure",
    summary="How far my erasure went",
    description="Who may call: any signed-in user. 404 `erasure-not-requested` if none was.",
    tags=["privacy"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
)
async def my_erasure(
    principal: NamedDependency[Principal], get_erasure: NamedDependency[GetErasure]
) -> ErasureOut:
    return _erasure(ok(await get_erasure(principal.user_id)))


ROUTES = [my_export, start_export, download_export, erase_me, my_erasure]
