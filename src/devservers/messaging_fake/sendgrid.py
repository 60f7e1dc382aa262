"""SendGrid's v3 API as far as Reserva uses it: mail send, the Email Activity search, and the
signed Event Webhook, and the suppression lists (bounces, blocks, spam reports, invalid
emails) with their GET and DELETE by address.

Mail send validates the v3 JSON shape and answers 202 with an `X-Message-Id`, as SendGrid does;
every recipient gets an `sg_message_id` ("<X-Message-Id>.filterdrecv-...") that its events and
the activity search carry. Events are signed as SendGrid signs them: ECDSA P-256 with SHA-256
over the timestamp header followed by the raw body, base64 DER in
`X-Twilio-Email-Event-Webhook-Signature`; the body ends with CRLF like SendGrid's does, so a
verifier that re-serialises the JSON instead of using the raw bytes fails here too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devservers.asgi import Request, Response, json_response

Obj = dict[str, Any]

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_BODY = 30 * 1024 * 1024  # SendGrid's limit for a whole mail send request
EVENTS = {
    "processed", "deferred", "delivered", "open", "click",
    "bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe",
}  # fmt: skip
# The suppression lists of /v3/suppression/{list}/{email}, and which events add to them.
SUPPRESSION_LISTS = ("bounces", "blocks", "spam_reports", "invalid_emails")
_SUPPRESSION_PATH = re.compile(
    r"^/v3/suppression/(bounces|blocks|spam_reports|invalid_emails)/(.+)$"
)
_EMAIL = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+$")
_ACTIVITY_FIELDS = {"msg_id", "to_email", "from_email", "subject", "status"}
_CLAUSE_ARG = re.compile(r"""^unique_args\['([^']+)'\]\s*=\s*"(.*)"$""")
_CLAUSE_FIELD = re.compile(r"""^([a-z_]+)\s*=\s*"(.*)"$""")
_CLAUSE_LIKE = re.compile(r"""^msg_id\s+LIKE\s+'([^'%]*)%'$""", re.IGNORECASE)


class SendGridError(Exception):
    """A SendGrid error answer: {"errors": [{"message", "field", "help"}]}."""

    def __init__(self, status: int, errors: list[Obj]) -> None:
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status, self.errors = status, errors

    def response(self) -> Response:
        return json_response(self.status, {"errors": self.errors})


def error(message: str, field: str | None = None) -> Obj:
    return {"message": message, "field": field, "help": None}


def unauthorized() -> SendGridError:
    message = "The provided authorization grant is invalid, expired, or revoked"
    return SendGridError(401, [error(message)])


def new_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_from_pem(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the stored signing key is not an EC key")
    return key


class SendGrid:
    """The mails sent (JSON-ready, kept in `mails`) and the Event Webhook's signing key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.key = key or new_signing_key()
        self.mails: list[Obj] = []
        # list name -> address (lower-cased) -> {"email", "created", "reason", "status"}
        self.suppressions: dict[str, dict[str, Obj]] = {name: {} for name in SUPPRESSION_LISTS}

    @property
    def public_key(self) -> str:
        """What SendGrid's settings page shows: base64 DER SubjectPublicKeyInfo, one line."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    # --- POST /v3/mail/send ---------------------------------------------------------------

    def send(self, request: Request) -> Response:
        if len(request.body) > MAX_BODY:
            raise SendGridError(413, [error("The JSON payload cannot exceed 30MB.")])
        try:
            body = json.loads(request.body)
        except ValueError as bad:
            raise SendGridError(400, [error(f"Bad Request: invalid JSON ({bad})")]) from bad
        if not isinstance(body, dict):
            raise SendGridError(400, [error("Bad Request: the body must be a JSON object")])
        errors = validate_mail(body)
        if errors:
            raise SendGridError(400, errors)
        x_message_id = _random_id()
        received = time.time()
        recipients = []
        for index, personalization in enumerate(body["personalizations"]):
            arguments = {**body.get("custom_args", {}), **personalization.get("custom_args", {})}
            for kind in ("to", "cc", "bcc"):
                for address in personalization.get(kind, []):
                    recipients.append(
                        {
                            "email": address["email"],
                            "kind": kind,
                            "sg_message_id": f"{x_message_id}.filterdrecv-7bc86b958d-"
                            f"{secrets.token_hex(3)}-1-{int(received):X}-{index}-0",
                            "custom_args": arguments,
                            "subject": personalization.get("subject", body.get("subject")),
                            "status": "processed",
                            "last_event_time": received,
                        }
                    )
        self.mails.append(
            {
                "x_message_id": x_message_id,
                "received_at": received,
                "api_key": request.bearer(),
                "request": body,
                "recipients": recipients,
            }
        )
        return Response(202, b"", [("x-message-id", x_message_id)])

    # --- GET /v3/messages (Email Activity) ------------------------------------------------

    def search(self, request: Request) -> Response:
        args = request.args()
        try:
            limit = int(args.get("limit", "10"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise SendGridError(400, [error("limit must be between 1 and 1000", "limit")])
        clauses = parse_query(args.get("query", ""))
        rows = []
        for mail in reversed(self.mails):  # newest first
            for recipient in mail["recipients"]:
                if all(_matches(clause, mail, recipient) for clause in clauses):
                    rows.append(_activity_row(mail, recipient))
        return json_response(200, {"messages": rows[:limit]})

    # --- /v3/suppression/{list}/{email} ---------------------------------------------------

    def suppression(self, request: Request) -> Response | None:
        """GET (the entries for the address, [] if none) or DELETE (204; 404 when the address
        is not on the list, as SendGrid answers) one address of one list; None for other
        paths."""
        matched = _SUPPRESSION_PATH.match(request.path)
        if matched is None:
            return None
        name, address = matched.group(1), unquote(matched.group(2)).lower()
        entries = self.suppressions[name]
        if request.method == "GET":
            entry = entries.get(address)
            return json_response(200, [entry] if entry is not None else [])
        if request.method == "DELETE":
            if entries.pop(address, None) is None:
                raise SendGridError(404, [error("Email does not exist", "email")])
            return Response(204, b"", [])
        return None

    def suppress(self, name: str, address: str, reason: str, status: str, at: int) -> None:
        self.suppressions[name][address.lower()] = {
            "created": at, "email": address, "reason": reason, "status": status,
        }  # fmt: skip

    # --- the Event Webhook ----------------------------------------------------------------

    def events(self, specs: list[Obj], now: float) -> list[Obj]:
        """The events `specs` ask for ({"x_message_id" or "sg_message_id", "event", "email"?,
        "type"?, "reason"?, "timestamp"?}), as SendGrid posts them; raises ValueError."""
        events = []
        for spec in specs:
            name = spec.get("event")
            if name not in EVENTS:
                raise ValueError(f"unknown event {name!r}; one of {sorted(EVENTS)}")
            mail, recipients = self._find(spec)
            for recipient in recipients:
                events.append(self._event(name, spec, mail, recipient, now))
        return events

    def sign(self, payload: bytes, timestamp: int) -> dict[str, str]:
        signed = str(timestamp).encode() + payload
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "User-Agent": "SendGrid Event API",
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: str(timestamp),
        }

    def _find(self, spec: Obj) -> tuple[Obj, list[Obj]]:
        wanted_x, wanted_sg = spec.get("x_message_id"), spec.get("sg_message_id")
        for mail in self.mails:
            recipients = [
                r
                for r in mail["recipients"]
                if (wanted_sg is not None and r["sg_message_id"] == wanted_sg)
                or (wanted_sg is None and mail["x_message_id"] == wanted_x)
            ]
            if spec.get("email") is not None:
                recipients = [r for r in recipients if r["email"] == spec["email"]]
            if recipients:
                return mail, recipients
        raise ValueError(f"no sent mail matches {spec}")

    def _event(self, name: str, spec: Obj, mail: Obj, recipient: Obj, now: float) -> Obj:
        timestamp = int(spec.get("timestamp", now))
        event: Obj = dict(recipient["custom_args"])  # custom args sit at the top level
        event |= {
            "email": recipient["email"],
            "timestamp": timestamp,
            "smtp-id": f"<{mail['x_message_id']}@geopod-ismtpd-5>",
            "event": name,
            "sg_event_id": _random_id(),
            "sg_message_id": recipient["sg_message_id"],
        }
        categories = mail["request"].get("categories") or []
        if categories:
            event["category"] = categories[0] if len(categories) == 1 else list(categories)
        if name == "bounce":
            kind = spec.get("type", "bounce")
            if kind not in ("bounce", "blocked"):
                raise ValueError("a bounce's type is 'bounce' or 'blocked'")
            hard = kind == "bounce"
            event |= {
                "type": kind,
                "status": "5.1.1" if hard else "5.7.1",
                "reason": spec.get("reason")
                or ("550 5.1.1 The email account that you tried to reach does not exist."
                    if hard else "550 5.7.1 Service unavailable; client host blocked"),
                "bounce_classification": "Invalid Address" if hard else "Reputation",
            }  # fmt: skip
        elif name == "dropped":
            event |= {"reason": spec.get("reason") or "Bounced Address", "status": "5.0.0"}
        elif name == "delivered":
            event |= {"response": "250 2.0.0 OK", "ip": "168.245.1.1", "tls": 1}
        elif name == "deferred":
            event |= {"response": spec.get("reason") or "421 try again later", "attempt": "1"}
        self._suppress_for(name, event, recipient["email"], timestamp)
        recipient["status"] = {
            "delivered": "delivered", "bounce": "not_delivered", "dropped": "not_delivered",
        }.get(name, recipient["status"])  # fmt: skip
        recipient["last_event_time"] = timestamp
        return event

    def _suppress_for(self, name: str, event: Obj, address: str, at: int) -> None:
        """What SendGrid adds to its suppression lists on an event."""
        if name == "bounce":
            listed = "bounces" if event["type"] == "bounce" else "blocks"
            self.suppress(listed, address, str(event["reason"]), str(event["status"]), at)
        elif name == "spamreport":
            self.suppress("spam_reports", address, "spam report", "", at)
        elif name == "dropped" and "Invalid" in str(event.get("reason")):
            self.suppress("invalid_emails", address, str(event["reason"]), "", at)


def validate_mail(body: Obj) -> list[Obj]:
    """SendGrid's checks of a v3 mail send body that a client can get wrong; every error."""
    errors: list[Obj] = []
    has_template = isinstance(body.get("template_id"), str) and body["template_id"]
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        message = (
            "The personalizations field is required and must have at least one personalization."
        )
        errors.append(error(message, "personalizations"))
        personalizations = []
    if len(personalizations) > 1000:
        errors.append(
            error("You may not have more than 1000 personalizations.", "personalizations")
        )
    for index, personalization in enumerate(personalizations):
        field = f"personalizations.{index}"
        if not isinstance(personalization, dict):
            errors.append(error("A personalization must be an object.", field))
            continue
        to = personalization.get("to")
        if not isinstance(to, list) or not to:
            message = (
                "The to array is required for all personalization objects, and must have at "
                "least one email object with a valid email address."
            )
            errors.append(error(message, f"{field}.to"))
        for kind in ("to", "cc", "bcc"):
            for number, address in enumerate(personalization.get(kind) or []):
                errors += _address(address, f"{field}.{kind}.{number}.email")
        errors += _custom_args(personalization.get("custom_args"), f"{field}.custom_args")
    errors += _address(body.get("from"), "from.email", missing=(
        "The from object must be provided for every email send. It is an object that requires "
        "the email parameter, but may also contain a name parameter."
    ))  # fmt: skip
    subject = body.get("subject")
    every_has_subject = personalizations and all(
        isinstance(p, dict) and isinstance(p.get("subject"), str) and p["subject"]
        for p in personalizations
    )
    if not has_template and not every_has_subject and not (isinstance(subject, str) and subject):
        message = (
            "The subject is required. You can get around this requirement if you use a template "
            "with a subject defined or if every personalization has a subject defined."
        )
        errors.append(error(message, "subject"))
    errors += _content(body.get("content"), bool(has_template))
    errors += _categories(body.get("categories"))
    errors += _custom_args(body.get("custom_args"), "custom_args")
    errors += _attachments(body.get("attachments"))
    return errors


def _address(value: Any, field: str, missing: str | None = None) -> list[Obj]:
    if not isinstance(value, dict) or not isinstance(value.get("email"), str):
        return [error(missing or "The email parameter is required.", field)]
    if not _EMAIL.match(value["email"]):
        return [error("Does not contain a valid address.", field)]
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or any(c in name for c in "\r\n;,")):
        return [error("The name of an address cannot contain ';', ',' or CRLF.", field)]
    return []


def _content(content: Any, has_template: bool) -> list[Obj]:
    if content is None or content == []:
        if has_template:
            return []
        message = (
            "Unless a valid template_id is provided, the content parameter is required. There "
            "must be at least one defined content block."
        )
        return [error(message, "content")]
    if not isinstance(content, list):
        return [error("The content parameter must be an array.", "content")]
    errors = []
    types = []
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(error("Each content block needs a type.", f"content.{index}.type"))
            continue
        types.append(block["type"])
        if not isinstance(block.get("value"), str) or not block["value"]:
            message = "The content value must be a string at least one character in length."
            errors.append(error(message, f"content.{index}.value"))
    plain_first = "text/plain" not in types or types[0] == "text/plain"
    html_next = "text/html" not in types or types.index("text/html") == int("text/plain" in types)
    if not (plain_first and html_next):
        message = (
            "If present, text/plain must be first, followed by text/html, followed by any other "
            "content."
        )
        errors.append(error(message, "content"))
    return errors


def _categories(categories: Any) -> list[Obj]:
    if categories is None:
        return []
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        return [error("Categories must be an array of strings.", "categories")]
    if len(categories) > 10:
        return [error("Too many categories. You may only provide up to 10.", "categories")]
    if any(len(c) > 255 for c in categories):
        return [error("A category cannot exceed 255 characters.", "categories")]
    if len(set(categories)) != len(categories):
        return [error("The categories must be unique.", "categories")]
    return []


def _custom_args(arguments: Any, field: str) -> list[Obj]:
    if arguments is None:
        return []
    if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
        return [error("Custom args must be an object whose values are strings.", field)]
    if len(json.dumps(arguments).encode()) > 10000:
        return [error("Custom args cannot exceed 10000 bytes.", field)]
    return []


def _attachments(attachments: Any) -> list[Obj]:
    if attachments is None:
        return []
    if not isinstance(attachments, list):
        return [error("Attachments must be an array.", "attachments")]
    errors = []
    for index, attachment in enumerate(attachments):
        field = f"attachments.{index}"
        if not isinstance(attachment, dict):
            errors.append(error("An attachment must be an object.", field))
            continue
        content = attachment.get("content")
        if not isinstance(content, str) or not content:
            errors.append(error("The attachment content is required.", f"{field}.content"))
        elif not _is_base64(content):
            message = "The attachment content must be base64 encoded."
            errors.append(error(message, f"{field}.content"))
        if not isinstance(attachment.get("filename"), str) or not attachment["filename"]:
            message = "The attachment filename parameter is required."
            errors.append(error(message, f"{field}.filename"))
        kind = attachment.get("type")
        if kind is not None and (not isinstance(kind, str) or any(c in kind for c in ";\r\n")):
            message = "The attachment type cannot contain ';', or CRLF characters."
            errors.append(error(message, f"{field}.type"))
        disposition = attachment.get("disposition", "attachment")
        if disposition not in ("attachment", "inline"):
            message = "The disposition of an attachment must be 'inline' or 'attachment'."
            errors.append(error(message, f"{field}.disposition"))
        if disposition == "inline" and not attachment.get("content_id"):
            message = "The content_id parameter is required if the disposition is set to inline."
            errors.append(error(message, f"{field}.content_id"))
    return errors


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def parse_query(query: str) -> list[tuple[str, str, str]]:
    """The Email Activity query language, minimal: clauses `field="value"`,
    `unique_args['name']="value"` and `msg_id LIKE 'prefix%'`, joined by AND."""
    clauses: list[tuple[str, str, str]] = []
    if not query.strip():
        return clauses
    for raw in re.split(r"\s+AND\s+", query.strip(), flags=re.IGNORECASE):
        clause = raw.strip()
        while clause.startswith("(") and clause.endswith(")"):
            clause = clause[1:-1].strip()
        if found := _CLAUSE_ARG.match(clause):
            clauses.append(("arg", found[1], found[2]))
        elif (found := _CLAUSE_LIKE.match(clause)) is not None:
            clauses.append(("like", "msg_id", found[1]))
        elif (found := _CLAUSE_FIELD.match(clause)) is not None and found[1] in _ACTIVITY_FIELDS:
            clauses.append(("field", found[1], found[2]))
        else:
            raise SendGridError(400, [error(f"invalid query: {raw!r}", "query")])
    return clauses


def _matches(clause: tuple[str, str, str], mail: Obj, recipient: Obj) -> bool:
    kind, name, value = clause
    if kind == "arg":
        return bool(recipient["custom_args"].get(name) == value)
    if kind == "like":
        return bool(recipient["sg_message_id"].startswith(value))
    return bool(_activity_row(mail, recipient)[name] == value)


def _activity_row(mail: Obj, recipient: Obj) -> Obj:
    return {
        "from_email": mail["request"]["from"]["email"],
        "msg_id": recipient["sg_message_id"],
        "subject": recipient["subject"],
        "to_email": recipient["email"],
        "status": recipient["status"],
        "opens_count": 0,
        "clicks_count": 0,
        "last_event_time": datetime.fromtimestamp(recipient["last_event_time"], UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
    }


def _random_id() -> str:
    """22 URL-safe characters, the shape of SendGrid's X-Message-Id and sg_event_id."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
