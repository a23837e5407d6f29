"""Several SMTP connections at once, to one relay or several: the ``Pool``
delivery sends over, one thread per connection (``Lane``).

A relay answers each message after tens of milliseconds; one connection
waiting for each reply sends 20 messages a second at 50 ms. N connections
send N times that, until the relay's own limit, the rate limits or the CPU
bound it (``bench/delivery.py`` measures the curve). Every relay listed gets
its own connections (``connections``) and its own rate; ``delivery.rate``
is one token bucket over all of them, not one per connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from feedpub.delivery.limits import RateLimiter, RelayState, process_limiter
from feedpub.delivery.sender import Lane, Outgoing, SendResult
from feedpub.delivery.smtp import SmtpSender, SmtpSettings

MAX_CONNECTIONS = 100  # per relay


@dataclass(frozen=True)
class Relay:
    settings: SmtpSettings  # its ``rate`` is this relay's own limit
    connections: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.connections <= MAX_CONNECTIONS:
            raise ValueError(
                f"SMTP relay {self.settings.name}: connections must be 1 to {MAX_CONNECTIONS}"
            )


class SmtpPool:
    """The lanes of every relay, made once and kept open between editions.
    Also a plain ``Sender`` (one message at a time, over the first lane) for
    callers that send one message."""

    idempotent = False
    linesep = b"\r\n"

    def __init__(
        self,
        relays: Sequence[Relay],
        *,
        rate: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not relays:
            raise ValueError("SMTP pool: no relay")
        self.relays = tuple(relays)
        self.limiter: RateLimiter | None = process_limiter(rate)
        shared = [self.limiter] if self.limiter is not None else []
        self._lanes: list[SmtpSender] = []
        for relay in self.relays:
            state = RelayState(relay.settings.name, relay.connections)
            self._lanes += [
                SmtpSender(relay.settings, sleep=sleep, clock=clock, relay=state, limiters=shared)
                for _ in range(relay.connections)
            ]
        self._one = threading.Lock()

    @property
    def send_deadline(self) -> float:
        return max(relay.settings.timeout for relay in self.relays)

    def lanes(self) -> Sequence[Lane]:
        return self._lanes

    def send(self, message: EmailMessage | Outgoing, key: str) -> SendResult:
        with self._one:
            return self._lanes[0].send(message, key)

    def sync(self) -> None:
        """Nothing to do: a message is the relay's once it answered 250."""

    def close(self) -> None:
        """QUIT on every connection at once (each waits for its reply)."""
        closing = [threading.Thread(target=lane.close) for lane in self._lanes]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
