"""Webhook delivery: each event POSTed to the endpoint, signed as Stripe signs it.

One worker delivers the queue in creation order (with `concurrency` above 1, that many
deliveries run side by side, so events may arrive out of order, as Stripe's do). An event is
held back (and the ones after it with it) until the response of the request that caused it has
gone out. An attempt that gets
no 2xx (or no answer) is retried with exponential backoff up to `attempts` times before the
worker moves on, so a failing event never lets later ones overtake it. Paused, events only
queue; tests may then deliver the queue in another order, and deliver any event again (a
replay, as Stripe's own retries are).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections import deque
from typing import Literal

import httpx

from devservers.stripe_fake.store import Obj, public

_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """`Stripe-Signature`: HMAC-SHA256 of "<t>.<body>" keyed with the whole whsec_ secret."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Webhooks:
    def __init__(
        self,
        url: str | None,
        secret: str | None,
        attempts: int = 4,
        backoff: float = 0.1,
        concurrency: int = 1,
    ) -> None:
        self.url, self.secret = url, secret
        self.max_attempts, self.backoff = attempts, backoff
        self.paused = False
        self.queue: deque[Obj] = deque()
        self.attempts: dict[str, list[Obj]] = {}  # event id -> every delivery attempt
        self._wake = asyncio.Event()  # set when there may be work for the worker
        self._idle = asyncio.Event()  # set when it has none: queue empty or paused, none in hand
        self._idle.set()
        self._busy = 0  # deliveries in hand
        self._slots = asyncio.Semaphore(concurrency)
        self._held: set[str] = set()  # queued events whose request has not been answered yet
        self._in_flight: set[asyncio.Task[None]] = set()  # kept referenced until done
        self._client = httpx.AsyncClient(timeout=10)

    def configure(self, url: str | None, secret: str | None) -> None:
        self.url, self.secret = url, secret

    def enqueue(self, event: Obj, held: bool = False) -> None:
        """Queue a new event, `held` until released; with no endpoint configured it is only
        recorded, as on Stripe."""
        if self.url is None:
            return
        event["pending_webhooks"] = 1
        self.queue.append(event)
        if held:
            self._held.add(event["id"])
        self._changed()

    def release(self, event_ids: list[str]) -> None:
        self._held.difference_update(event_ids)
        self._changed()

    def pause(self) -> None:
        self.paused = True
        self._changed()

    def resume(self) -> None:
        self.paused = False
        self._changed()

    def reset(self) -> None:
        self.queue.clear()
        self.attempts.clear()
        self._held.clear()
        self.resume()

    def queued(self) -> set[str]:
        return {event["id"] for event in self.queue}

    async def run(self) -> None:
        """The worker: deliver the queue head first whenever not paused."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._deliverable():
                await self._slots.acquire()
                if not self._deliverable():  # paused or emptied while waiting for a slot
                    self._slots.release()
                    break
                self._busy += 1
                task = asyncio.create_task(self._deliver_one(self.queue.popleft()))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _deliver_one(self, event: Obj) -> None:
        try:
            await self._deliver(event, "delivery")
        finally:
            self._busy -= 1
            self._slots.release()
            self._changed()

    async def flush(self, seconds: float) -> int:
        """Wait until the worker has drained the queue (unless paused); the events left."""
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            pass
        return len(self.queue)

    async def replay(self, event: Obj, times: int) -> list[Obj]:
        return [await self._post(event, "replay") for _ in range(times)]

    async def deliver_out_of_order(
        self, order: Literal["random", "reversed"], seed: int | None
    ) -> list[Obj]:
        """Deliver what is queued now in a shuffled (or reversed) order, for ordering tests."""
        events = list(self.queue)
        self.queue.clear()
        if order == "reversed":
            events.reverse()
        else:
            random.Random(seed).shuffle(events)
        return [await self._deliver(event, "out_of_order") for event in events]

    async def close(self) -> None:
        await self._client.aclose()

    def _deliverable(self) -> bool:
        return bool(self.queue) and not self.paused and self.queue[0]["id"] not in self._held

    def _changed(self) -> None:
        if self._deliverable():
            self._wake.set()
        # Held events count as work to wait for: their responses are only moments away.
        if (self.queue and not self.paused) or self._busy:
            self._idle.clear()
        else:
            self._idle.set()

    async def _deliver(self, event: Obj, kind: str) -> Obj:
        attempt = await self._post(event, kind)
        for retry in range(1, self.max_attempts):
            if attempt["ok"]:
                break
            await asyncio.sleep(self.backoff * 2 ** (retry - 1))
            attempt = await self._post(event, kind)
        if attempt["ok"]:
            event["pending_webhooks"] = 0
        return attempt

    async def _post(self, event: Obj, kind: str) -> Obj:
        url, secret = self.url, self.secret
        record: Obj = {"event": event["id"], "kind": kind, "url": url, "at": time.time()}
        record |= await self._send(event, url, secret)
        record["ok"] = record["status"] is not None and 200 <= record["status"] < 300
        self.attempts.setdefault(event["id"], []).append(record)
        return record

    async def _send(self, event: Obj, url: str | None, secret: str | None) -> Obj:
        if url is None or secret is None:
            return {"status": None, "error": "no webhook endpoint configured"}
        payload = json.dumps(public(event), indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, secret, int(time.time())),
            "User-Agent": _USER_AGENT,
            "Cache-Control": "no-cache",
        }
        try:
            response = await self._client.post(url, content=payload, headers=headers)
        except httpx.HTTPError as error:
            return {"status": None, "error": f"{type(error).__name__}: {error}"}
        return {"status": response.status_code, "error": None}
