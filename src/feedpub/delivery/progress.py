"""How far an edition's sending has come, for ``feedpub status``: each
sender's recent rate and when, at that rate, the edition is done. Pure:
the caller reads the counts and the rates from the store
(``delivery_counts``, ``sent_by_worker``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# How far back a sender's rate is measured.
RATE_WINDOW = timedelta(minutes=5)

# (worker, sent since the window opened, first and last of those sends)
Sent = tuple[str, int, datetime, datetime]


@dataclass(frozen=True)
class SenderRate:
    worker: str  # host:pid:id of the sending process
    sent: int  # messages in the window
    per_second: float
    last: datetime  # its latest send


@dataclass(frozen=True)
class Progress:
    total: int
    done: int  # sent, failed or skipped
    left: int  # pending or claimed
    per_second: float  # every sender together, over the window
    finish: datetime | None  # at that rate; None when nobody sends
    senders: tuple[SenderRate, ...]

    def describe(self) -> str:
        """One line: «12,345 of 100,000 sent (310/s over 4 senders), done by 10:12:08Z»."""
        rate = f"{self.per_second:,.0f}/s over {len(self.senders)} sender"
        rate += "" if len(self.senders) == 1 else "s"
        if not self.left:
            return f"{self.done:,} of {self.total:,} done"
        finish = self.finish.astimezone(UTC) if self.finish else None
        when = f", done by {finish:%Y-%m-%d %H:%M:%SZ}" if finish else ", not sending"
        return f"{self.done:,} of {self.total:,} done ({rate}){when}"


def edition_progress(
    counts: Mapping[str, int],
    sent: Sequence[Sent],
    *,
    now: datetime,
    window: timedelta = RATE_WINDOW,
) -> Progress:
    """Progress from the edition's counts per status and what each worker
    sent since ``now - window``. A sender's rate runs from the start of the
    window, or from its first send in it when it started later."""
    start = now - window
    senders = []
    for worker, count, first, last in sent:
        span = (now - max(start, first)).total_seconds()
        senders.append(SenderRate(worker, count, count / span if span > 0 else 0.0, last))
    per_second = sum(s.per_second for s in senders)
    left = counts.get("pending", 0) + counts.get("claimed", 0)
    done = sum(counts.get(status, 0) for status in ("sent", "failed", "skipped"))
    finish = now + timedelta(seconds=left / per_second) if per_second and left else None
    return Progress(done + left, done, left, per_second, finish, tuple(senders))
