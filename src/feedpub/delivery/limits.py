"""What the connections of one process share: the rate limits (one token
bucket per relay, one for ``delivery.rate`` over every relay) and, per relay,
how many connections it holds open (``RelayState``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("feedpub.delivery.smtp")

Clock = Callable[[], float]


class RateLimiter:
    """A token bucket holding one token (no bursts), shared by every thread
    that takes from it: ``acquire`` returns when the next message may go, at
    most ``rate`` a second in all. Each caller reserves its own slot under
    the lock and waits outside it, so N connections waiting on one bucket
    still get one slot each ``1/rate`` seconds, never N."""

    def __init__(self, rate: float, *, clock: Clock = time.monotonic) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._lock = threading.Lock()
        self._next = clock()

    @property
    def rate(self) -> float:
        return 1.0 / self._interval

    def slow_to(self, rate: float) -> None:
        with self._lock:
            self._interval = max(self._interval, 1.0 / rate)

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Wait for the next slot; return it (on the limiter's clock)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            sleep(slot - now)
        return slot


# One bucket per relay and account, shared by every sender in the process: the
# limit is the relay's, however many threads or digests send through it
# (listmonk's per-worker limit overshoots by its concurrency, PR #2974).
_limiters: dict[tuple[str, int, str | None], RateLimiter] = {}
_limiters_lock = threading.Lock()


def relay_limiter(
    host: str, port: int, username: str | None, rate: float | None
) -> RateLimiter | None:
    """The bucket of one relay and account, for the whole process."""
    if rate is None:
        return None
    return _shared((host.lower(), port, username), rate)


def process_limiter(rate: float | None) -> RateLimiter | None:
    """The bucket of ``delivery.rate``: one per process and rate, over every
    relay and connection (each job of ``serve`` makes its own sender; they
    share this)."""
    return None if rate is None else _shared(("", 0, f"rate {rate!r}"), rate)


def _shared(key: tuple[str, int, str | None], rate: float) -> RateLimiter:
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(rate)
        else:
            limiter.slow_to(rate)  # two settings for one relay: the stricter wins
        return limiter


class RelayState:
    """What the connections to one relay share: how many are open, so that a
    refused connection while others are open reads as the relay's limit
    (many relays accept a few per client), and that limit logged once."""

    def __init__(self, name: str, wanted: int) -> None:
        self.name = name
        self.wanted = wanted
        self._lock = threading.Lock()
        self._open = 0
        self._logged = False

    @property
    def open(self) -> int:
        return self._open

    def opened(self) -> None:
        with self._lock:
            self._open += 1

    def closed(self) -> None:
        with self._lock:
            self._open -= 1

    def at_limit(self, detail: str) -> bool:
        """True (and logged, once) when the relay holds others of our
        connections: the refusal is its limit, not an outage."""
        with self._lock:
            if self._open <= 0:
                return False
            if not self._logged:
                self._logged = True
                log.warning(
                    "smtp: relay %s refuses more than %d of our %d connections (%s); "
                    "sending over those",
                    self.name,
                    self._open,
                    self.wanted,
                    detail,
                )
            return True
