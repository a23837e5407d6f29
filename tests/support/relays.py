"""Relays that misbehave, for the delivery tests: each a real SMTP server on
127.0.0.1 (aiosmtpd, or a bare socket for one that never answers), plus the
few steps every delivery test takes (readers, an edition recorded with its
deliveries the way the product records them, a store-backed composer)."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from feedpub import delivery
from feedpub.model import Delivery, Edition
from feedpub.store import SqlStore
from support.smtp_relay import HOST, Recorder, free_port

NOW = datetime.fromisoformat("2026-11-29T08:00:00+03:00")
SLOT = datetime.fromisoformat("2026-11-29T07:00:00+03:00")


class Slow(Recorder):
    """Answers each message after ``delay`` seconds, like a distant relay;
    ``first_data`` is set when the first message arrives."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.first_data = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.first_data.set()
        await asyncio.sleep(self.delay)
        return self.accept(session, envelope)


class Unreliable(Recorder):
    """Answers 421 to a share of messages and drops a share of connections
    mid-DATA without keeping the message (seeded: every run the same)."""

    def __init__(self, *, busy: float = 0.1, drop: float = 0.05, seed: int = 24) -> None:
        super().__init__()
        self.random = random.Random(seed)
        self.busy, self.drop = busy, drop
        self.busy_replies = self.drops = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            roll = self.random.random()
            if roll < self.busy:
                self.busy_replies += 1
            elif roll < self.busy + self.drop:
                self.drops += 1
        if roll < self.busy:
            return "421 4.7.0 Try again later, closing connection"
        if roll < self.busy + self.drop:
            server.transport.close()
            return "250 2.0.0 OK"  # never reaches the client: the message was not kept
        return self.accept(session, envelope)


class DropsAfterData(Recorder):
    """Keeps every message, but for one in ``every`` drops the connection
    before its reply: the client cannot know the message arrived."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self.drops = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.accept(session, envelope)
        with self.lock:
            n = len(self.delivered)
            if n % self.every:
                return reply
            self.drops += 1
        server.transport.close()
        return reply


class _Limited(SMTP):
    """An SMTP session that greets with 421 beyond its server's limit."""

    def __init__(self, handler: Any, limit: list[int], counts: list[int], **kw: Any) -> None:
        super().__init__(handler, **kw)
        self._limit, self._counts = limit, counts
        self._counted = False

    async def _handle_client(self) -> None:
        if self._counts[0] >= self._limit[0]:
            self._counts[1] += 1  # refused
            await self.push("421 4.7.0 Too many connections from your host")
            assert self.transport is not None
            self.transport.close()
            return
        self._counts[0] += 1
        self._counts[2] = max(self._counts[2], self._counts[0])
        self._counted = True
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counts[0] -= 1
            self._counted = False
        super().connection_lost(error)


class LimitedController(Controller):
    """Accepts at most ``limit`` connections at once; ``counts`` is [open,
    refused, most open at once] (read from the test's thread)."""

    def __init__(self, handler: Any, limit: int, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.limit = [limit]
        self.counts = [0, 0, 0]

    def factory(self) -> SMTP:
        return _Limited(self.handler, self.limit, self.counts, **self.SMTP_kwargs)


@contextmanager
def limited_server(handler: Any, limit: int) -> Iterator[LimitedController]:
    controller = LimitedController(handler, limit, hostname=HOST, port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@contextmanager
def hung_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.2)
    port = int(listener.getsockname()[1])
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        done.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


# --- an edition, the way the product records one -----------------------------------


def readers(store: SqlStore, count: int, *, prefix: str = "reader") -> list[str]:
    addresses = [f"{prefix}{i}@example.org" for i in range(count)]
    store.add_subscribers([(a, None) for a in addresses], NOW - timedelta(days=1))
    return addresses


def record_edition(store: SqlStore, digest: str = "daily") -> int:
    """The edition of SLOT with one delivery per active subscriber (the
    plan and the single transaction of the product's own flow)."""
    edition = Edition(digest=digest, slot=SLOT, created=NOW, article_ids=("a1",))
    queue = delivery.plan_queue(
        store.subscribers_for(digest), digest, recorded=NOW, editor="editor@example.org"
    )
    edition_id = store.add_edition_with_deliveries(edition, queue, NOW)
    assert edition_id is not None
    return edition_id


def composer(
    domain: str = "news.example.org",
) -> delivery.Compose:
    """One small message per row (these tests are about claiming, sending and
    recording; what a digest says is tested with the real composer elsewhere)."""

    def compose(rows: Sequence[Delivery]) -> list[EmailMessage]:
        made = []
        for row in rows:
            message = EmailMessage()
            message["From"] = f"digest@{domain}"
            message["To"] = row.address
            message["Subject"] = "النشرة"
            message["Message-ID"] = f"<feedpub.{row.edition_id}.{row.id}@{domain}>"
            message.set_content("\u200fمرحبا\n", cte="quoted-printable")
            made.append(message)
        return made

    return compose


class Clock:
    """The run's clock: NOW, moved on by real time (as the publisher's is)."""

    def __init__(self, start: datetime = NOW) -> None:
        self.start, self.started = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.started)
