"""A real SMTP relay for the tests, in this process: aiosmtpd on 127.0.0.1
on a free port, and handlers that record what arrives (``Recorder``) or
answer 421 and drop a connection (``Flaky``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Recorder:
    """Keeps every accepted message and the connection (peer) it came on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered: list[tuple[str, list[str], bytes]] = []
        self.peers: list[Any] = []
        self.data_commands = 0

    def accept(self, session: Any, envelope: Any) -> str:
        with self.lock:
            self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            if session.peer not in self.peers:
                self.peers.append(session.peer)
        return "250 2.0.0 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_commands += 1
        return self.accept(session, envelope)

    def recipients(self) -> list[str]:
        return [r for _, rcpts, _ in self.delivered for r in rcpts]


@contextmanager
def smtp_server(handler: Any, **kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


class Flaky(Recorder):
    """421 to every 7th DATA; drops the connection, without replying, once."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_commands += 1
            n = self.data_commands
        if n % 7 == 0:
            return "421 4.7.0 Too many messages, come back later"
        if n == 10 and not self.dropped:
            self.dropped = True
            server.transport.close()
            return "250 2.0.0 OK"  # never reaches the client
        return self.accept(session, envelope)
