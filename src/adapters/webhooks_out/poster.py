"""`HttpxWebhookPoster`: the `WebhookPoster` port over httpx, guarded against SSRF.

An endpoint URL is typed by a provider's staff, so without care it is a way to make our worker
call our own services (the database, Redis, a cloud metadata endpoint at 169.254.169.254,
an admin port on 127.0.0.1) and read their answers back in the delivery log. So:

- **Resolve, check, then connect to the checked address.** The host is resolved once; every
  address it resolves to must be public (`ipaddress`'s `is_global`, not multicast; an
  IPv4-mapped IPv6 address is judged as its IPv4 address), else nothing is sent. The request
  then goes to that very IP (the URL's host replaced by it, `Host` header and TLS SNI kept as
  the name, so the certificate is still verified for the name): a DNS answer that changes
  between the check and the connection (DNS rebinding) cannot redirect it.
- **No redirects are followed** (a 3xx is recorded as a failed attempt): a public endpoint
  cannot bounce us to an internal one. **No proxies from the environment** (`trust_env=False`).
- **No connection reuse**: a pooled connection to an IP, opened for one name's certificate,
  is never reused for another name served at the same IP.
- **Bounded**: 10 s for the whole request, only the first kilobyte of the answer is read.

`allow_private_addresses=True` lifts the address check for development and tests, where the
receiver listens on 127.0.0.1 (setting `WEBHOOKS_ALLOW_PRIVATE_ADDRESSES`); never in production.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from core.integrations.model import RESPONSE_BODY_MAX, PostOutcome
from core.integrations.ports import WebhookPoster

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
TIMEOUT_SECONDS = 10.0
ERROR_MAX = 500


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """Every address `host` resolves to, as text (the system's resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: IpAddress) -> bool:
    """Reachable on the public internet: not loopback, private, link-local, shared (CGNAT),
    reserved, unspecified or multicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class HttpxWebhookPoster(WebhookPoster):
    def __init__(
        self,
        *,
        allow_private_addresses: bool = False,
        timeout_seconds: float = TIMEOUT_SECONDS,
        verify: ssl.SSLContext | bool = True,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._allow_private = allow_private_addresses
        self._timeout = timeout_seconds
        self._resolver = resolver
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            verify=verify,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostOutcome:
        started = time.perf_counter()

        def failed(reason: str) -> PostOutcome:
            return PostOutcome(status=None, latency_ms=_since(started), error=reason[:ERROR_MAX])

        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme != "https" and not self._allow_private:
            return failed("refused: only https endpoints")
        if not host:
            return failed("refused: no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            answers = await self._resolver(host, port)
            resolved = [ipaddress.ip_address(a.split("%")[0]) for a in answers]
        except (OSError, ValueError) as error:
            return failed(f"could not resolve {host}: {error}")
        if not resolved:
            return failed(f"could not resolve {host}")
        if not self._allow_private:
            refused = [str(a) for a in resolved if not is_public_address(a)]
            if refused:
                return failed(f"refused: {host} resolves to a non-public address ({refused[0]})")
        target = resolved[0]
        pinned = f"[{target}]" if target.version == 6 else str(target)
        netloc = pinned if parts.port is None else f"{pinned}:{parts.port}"
        pinned_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        extensions = {} if _is_ip(host) else {"sni_hostname": host}
        request = self._client.build_request(
            "POST",
            pinned_url,
            content=body,
            headers={**headers, "Host": host_header},
            extensions=extensions,
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.send(request, stream=True)
                try:
                    head = await _first_bytes(response, RESPONSE_BODY_MAX)
                finally:
                    await response.aclose()
        except TimeoutError:
            return failed(f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as error:
            return failed(f"{type(error).__name__}: {error}")
        return PostOutcome(
            status=response.status_code,
            body=head.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            latency_ms=_since(started),
        )


async def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk[: limit - len(kept)]
        if len(kept) >= limit:
            break
    return kept


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
