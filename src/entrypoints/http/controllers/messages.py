"""Messages people were sent, their contact preferences, calendar feeds, and the providers'
status webhooks (SendGrid's Event Webhook, WhatsApp's Cloud API webhooks).

A customer reads their own messages, staff their provider's, admins everyone's. Calendar
feeds are public URLs whose secret is the token in the path (only its SHA-256 is stored).
The two webhooks carry no bearer token: the signature over the raw body is the
authentication; a forged or missing one is a 401 problem and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody, QueryParameter
from returns.result import Failure

from core.messaging import (
    ConfirmWhatsAppSubscription,
    ContactPreferences,
    GetContactPreferences,
    IssueCalendarFeed,
    IssueProviderCalendarFeed,
    ListAllMessages,
    ListMyMessages,
    ListProviderMessages,
    Message,
    MessageId,
    MessageStatus,
    PreferencesChange,
    ReadCalendarFeed,
    RecordEmailReports,
    RecordWhatsAppNotice,
    ResendMessage,
    SetContactPreferences,
    ShowMessage,
)
from core.shared.ids import ProviderId, UserId
from core.shared.principal import Principal
from entrypoints.http.auth import PUBLIC, SECURITY
from entrypoints.http.dto import DEFAULT_LIMIT, Limit
from entrypoints.http.edge import SIGNED_WEBHOOKS
from entrypoints.http.problems import PUBLIC_PROBLEMS, SIGNED_IN_PROBLEMS, documented, ok

Before = Annotated[
    uuid.UUID | None,
    QueryParameter(description="`next` of the previous page: messages older than this one"),
]


class MessageOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    kind: str
    channel: str
    status: str
    address: str | None  # None: the recipient was erased (their key destroyed)
    locale: str
    recipient_id: uuid.UUID | None
    booking_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id,
            kind=str(message.kind),
            channel=str(message.channel),
            status=str(message.status),
            address=message.address,
            locale=message.locale,
            recipient_id=message.recipient_id,
            booking_id=message.booking_id,
            provider_id=message.provider_id,
            provider_message_id=message.provider_message_id,
            attempts=message.attempts,
            last_error=message.last_error,
            created_at=message.created_at,
            updated_at=message.updated_at,
        )


class MessagesPage(msgspec.Struct, frozen=True):
    items: list[MessageOut]
    next: uuid.UUID | None  # pass as `before` for the next page; null on the last one


def _page_of(found: Sequence[Message], limit: int) -> MessagesPage:
    items = [MessageOut.of(m) for m in found[:limit]]
    return MessagesPage(items=items, next=items[-1].id if len(found) > limit else None)


class PreferencesOut(msgspec.Struct, frozen=True):
    locale: str
    phone: str | None
    whatsapp_opt_in: bool
    whatsapp_opt_in_at: datetime | None

    @classmethod
    def of(cls, preferences: ContactPreferences) -> PreferencesOut:
        return cls(
            locale=preferences.locale,
            phone=preferences.phone,
            whatsapp_opt_in=preferences.whatsapp_opt_in_at is not None,
            whatsapp_opt_in_at=preferences.whatsapp_opt_in_at,
        )


class PreferencesIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole of my preferences (PUT): a missing phone removes it and ends the opt-in."""

    locale: Annotated[str, msgspec.Meta(min_length=2, max_length=16)] = "en"
    phone: Annotated[str, msgspec.Meta(min_length=3, max_length=32)] | None = None
    whatsapp_opt_in: bool = False
    # How to read a national number (ISO 3166 region, e.g. "DE"); "+..." numbers need none.
    region: Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")] | None = None

    def change(self) -> PreferencesChange:
        return PreferencesChange(
            locale=self.locale,
            phone=self.phone,
            remove_phone=self.phone is None,
            whatsapp=self.whatsapp_opt_in,
            region=self.region,
        )


class FeedOut(msgspec.Struct, frozen=True):
    url: str  # secret: whoever has it reads the calendar; issuing again replaces it


class WebhookOut(msgspec.Struct, frozen=True):
    received: int  # reports the body held


ADMINS = "Who may call: admins, in a session with a second factor (aal2)."
_read = partial(get, tags=["messages"], security=SECURITY, responses=SIGNED_IN_PROBLEMS)


@_read(
    "/me/messages",
    summary="Messages sent to me, newest first",
    description="Who may call: any signed-in user (the mails and WhatsApp messages sent to "
    "them, with their delivery status). Pages by `before`.",
)
async def my_messages(
    principal: NamedDependency[Principal],
    list_my_messages: NamedDependency[ListMyMessages],
    limit: Limit = DEFAULT_LIMIT,
    before: Before = None,
) -> MessagesPage:
    cursor = None if before is None else MessageId(before)
    return _page_of(ok(await list_my_messages(principal, before=cursor, limit=limit + 1)), limit)


@_read(
    "/providers/{provider_id:str}/messages",
    summary="Messages about a provider's bookings (staff)",
    description="Who may call: the provider's staff, and admins. Pages by `before`.",
)
async def provider_messages(
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    list_provider_messages: NamedDependency[ListProviderMessages],
    limit: Limit = DEFAULT_LIMIT,
    before: Before = None,
) -> MessagesPage:
    cursor = None if before is None else MessageId(before)
    found = await list_provider_messages(
        principal, ProviderId(provider_id), before=cursor, limit=limit + 1
    )
    return _page_of(ok(found), limit)


@_read(
    "/admin/messages",
    summary="Every message (admins)",
    description=f"{ADMINS} Filter by `status` (e.g. failed) or `recipient_id`; pages by `before`.",
)
async def all_messages(
    principal: NamedDependency[Principal],
    list_all_messages: NamedDependency[ListAllMessages],
    limit: Limit = DEFAULT_LIMIT,
    before: Before = None,
    status: Annotated[MessageStatus | None, QueryParameter(description="only this status")] = None,
    recipient_id: Annotated[
        uuid.UUID | None, QueryParameter(description="only messages to this user")
    ] = None,
) -> MessagesPage:
    found = await list_all_messages(
        principal,
        status=status,
        recipient_id=None if recipient_id is None else UserId(recipient_id),
        before=None if before is None else MessageId(before),
        limit=limit + 1,
    )
    return _page_of(ok(found), limit)


@_read(
    "/messages/{message_id:str}",
    summary="One message",
    description="Who may call: its recipient, the staff of its provider, and admins (404 for "
    "anyone else).",
)
async def show_message(
    message_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    show_message: NamedDependency[ShowMessage],
) -> MessageOut:
    return MessageOut.of(ok(await show_message(principal, MessageId(message_id))))


@post(
    "/admin/messages/{message_id:str}/resend",
    summary="Send a message again (admins)",
    description=f"{ADMINS} A new message of the same kind to the same person, queued now.",
    tags=["messages"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
    status_code=200,
)
async def resend_message(
    message_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    resend_message: NamedDependency[ResendMessage],
) -> MessageOut:
    return MessageOut.of(ok(await resend_message(principal, MessageId(message_id))))


@_read(
    "/me/contact-preferences",
    summary="My language, phone and WhatsApp opt-in",
    description="Who may call: any signed-in user (their own).",
)
async def get_preferences(
    principal: NamedDependency[Principal],
    get_contact_preferences: NamedDependency[GetContactPreferences],
) -> PreferencesOut:
    return PreferencesOut.of(ok(await get_contact_preferences(principal)))


@put(
    "/me/contact-preferences",
    summary="Set my language, phone and WhatsApp opt-in",
    description="Who may call: any signed-in user (their own). The phone is stored in E.164 "
    "(a national number needs `region` or its +country code). WhatsApp messages are sent only "
    "with the opt-in and a phone; email always.",
    tags=["messages"],
    security=SECURITY,
    responses=SIGNED_IN_PROBLEMS,
)
async def put_preferences(
    data: JSONBody[PreferencesIn],
    principal: NamedDependency[Principal],
    set_contact_preferences: NamedDependency[SetContactPreferences],
) -> PreferencesOut:
    return PreferencesOut.of(ok(await set_contact_preferences(principal, data.change())))


_issue = partial(
    post, tags=["calendar"], security=SECURITY, responses=SIGNED_IN_PROBLEMS, status_code=201
)


@_issue(
    "/me/calendar-feed",
    summary="A secret calendar feed URL of my bookings",
    description="Who may call: any signed-in user (their own bookings). Issuing again replaces "
    "the previous URL (it stops working).",
)
async def my_feed(
    principal: NamedDependency[Principal],
    issue_calendar_feed: NamedDependency[IssueCalendarFeed],
) -> FeedOut:
    return FeedOut(url=ok(await issue_calendar_feed(principal)).url)


@_issue(
    "/providers/{provider_id:str}/calendar-feed",
    summary="A secret calendar feed URL of a provider's bookings (staff)",
    description="Who may call: the provider's staff, and admins. Issuing again replaces the "
    "previous URL (it stops working).",
)
async def provider_feed(
    provider_id: FromPath[uuid.UUID],
    principal: NamedDependency[Principal],
    issue_provider_calendar_feed: NamedDependency[IssueProviderCalendarFeed],
) -> FeedOut:
    feed = ok(await issue_provider_calendar_feed(principal, ProviderId(provider_id)))
    return FeedOut(url=feed.url)


CALENDAR = "text/calendar"  # Litestar adds "; charset=utf-8"


@get(
    "/calendar/{token:str}",
    summary="A calendar feed (iCalendar)",
    description="The URL itself is the secret. Subscribe to it from any calendar application.",
    tags=["calendar"],
    opt={PUBLIC: True},
    responses=PUBLIC_PROBLEMS,
    media_type=CALENDAR,
)
async def read_feed(
    token: FromPath[str], read_calendar_feed: NamedDependency[ReadCalendarFeed]
) -> Response[bytes]:
    if not token.endswith(".ics"):
        raise NotFoundException(detail="calendar feeds end in .ics")
    body = ok(await read_calendar_feed(token.removesuffix(".ics")))
    return Response(
        content=body,
        media_type=CALENDAR,
        headers={"Cache-Control": "private, max-age=300"},
    )


def _headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


@post(
    f"{SIGNED_WEBHOOKS}sendgrid",
    summary="SendGrid Event Webhook",
    description="Signed events (ECDSA, `X-Twilio-Email-Event-Webhook-Signature` and "
    "`-Timestamp`): delivered, bounce, dropped, spamreport, unsubscribe update the messages' "
    "status; a hard bounce marks the address undeliverable. A bad signature is a 401.",
    tags=["webhooks"],
    opt={PUBLIC: True},
    status_code=200,
    responses=documented(401),
)
async def sendgrid_events(
    request: Request[Any, Any, Any], record_email_reports: NamedDependency[RecordEmailReports]
) -> WebhookOut:
    body = await request.body()
    return WebhookOut(received=ok(await record_email_reports(body, _headers(request))).reports)


@get(
    f"{SIGNED_WEBHOOKS}whatsapp",
    summary="WhatsApp webhook verification",
    description="Meta's subscription handshake: echoes `hub.challenge` when `hub.verify_token` "
    "is ours, else 403.",
    tags=["webhooks"],
    opt={PUBLIC: True},
    media_type=MediaType.TEXT,
    responses=documented(403),
)
async def whatsapp_handshake(
    confirm_whatsapp_subscription: NamedDependency[ConfirmWhatsAppSubscription],
    mode: Annotated[str, QueryParameter(name="hub.mode", max_length=64)] = "",
    verify_token: Annotated[str, QueryParameter(name="hub.verify_token", max_length=512)] = "",
    challenge: Annotated[str, QueryParameter(name="hub.challenge", max_length=512)] = "",
) -> str:
    echoed = await confirm_whatsapp_subscription(mode, verify_token, challenge)
    if isinstance(echoed, Failure):  # Meta expects 403 for a subscription that is not ours
        raise PermissionDeniedException(detail="the verify token is not ours")
    return echoed.unwrap()


@post(
    f"{SIGNED_WEBHOOKS}whatsapp",
    summary="WhatsApp Cloud API webhook",
    description="Status updates (sent, delivered, read, failed) and inbound messages (they open "
    "the 24-hour service window), signed with `X-Hub-Signature-256`. A bad signature is a 401.",
    tags=["webhooks"],
    opt={PUBLIC: True},
    status_code=200,
    responses=documented(401),
)
async def whatsapp_events(
    request: Request[Any, Any, Any],
    record_whatsapp_notice: NamedDependency[RecordWhatsAppNotice],
) -> WebhookOut:
    body = await request.body()
    return WebhookOut(received=ok(await record_whatsapp_notice(body, _headers(request))).reports)


ROUTES = [
    my_messages,
    provider_messages,
    all_messages,
    show_message,
    resend_message,
    get_preferences,
    put_preferences,
    my_feed,
    provider_feed,
    read_feed,
    sendgrid_events,
    whatsapp_handshake,
    whatsapp_events,
]
