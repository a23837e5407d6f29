"""What the command line prints: the listings (articles, rejects,
subscribers, deliveries) and the status, as text in the site's zone or as
JSON (UTC with its offset), and the progress bar on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from feedpub.app.reports import Progress, Status
    from feedpub.model import (
        Article,
        Consent,
        FeedbackCounts,
        Reject,
        Signup,
        Subscriber,
        Suppression,
    )


def print_subscribers(subscribers: Sequence[Subscriber], out: TextIO, *, as_json: bool) -> None:
    import json

    for s in subscribers:
        if as_json:
            record = {
                "email": s.email,
                "status": s.status,
                "name": s.name,
                "digests": list(s.digests),
                "tags": list(s.tags),
                "created": s.created.isoformat(),
            }
            print(json.dumps(record, ensure_ascii=False), file=out)
        else:
            print(f"{s.email}  {s.status}", file=out)


def print_suppressions(suppressions: Sequence[Suppression], out: TextIO) -> None:
    """One line per address: why it is not mailed, or how it was lifted."""
    for s in suppressions:
        line = f"{s.address}  {s.describe()}"
        if s.lifted is not None:
            line += f"; lifted on {s.lifted.date().isoformat()}: {s.lifted_reason}"
        print(line, file=out)


def print_status(status: Status, out: TextIO, tz: tzinfo, *, as_json: bool) -> None:
    import json
    from dataclasses import asdict

    def when(value: datetime | None) -> str | None:  # JSON times are UTC, as --json elsewhere
        return None if value is None else value.astimezone(UTC).isoformat()

    if as_json:
        record = {
            "now": when(status.now),
            "runs": [
                {
                    "job": r.job,
                    "started": when(r.started),
                    "finished": when(r.finished),
                    "duration": round(r.duration, 3),
                    "status": r.status,
                    "counts": dict(r.counts),
                    "error": r.error,
                    "host": r.host,
                    "pid": r.pid,
                }
                for r in status.runs
            ],
            "next": {job: when(at) for job, at in status.next_runs.items()},
            "store": dict(status.counts),
            "subscribers": dict(status.subscribers),
            "digests": [
                {
                    "digest": d.digest,
                    "last_edition": None
                    if d.last is None
                    else {
                        "slot": when(d.last.slot),
                        "created": when(d.last.created),
                        "articles": len(d.last.article_ids),
                        "deliveries": dict(d.deliveries),
                        "came_back": asdict(d.feedback),
                        "progress": d.progress,
                    },
                    "paused": None
                    if d.paused is None
                    else {"reason": d.paused[0], "since": when(d.paused[1])},
                }
                for d in status.digests
            ],
            "locks": {
                name: None
                if holder is None
                else {"host": holder.host, "pid": holder.pid, "since": when(holder.since)}
                for name, holder in status.locks.items()
            },
            "sources": [
                {
                    "source": s.source,
                    "synced": when(s.synced),
                    "cursor": s.cursor,
                    "error": s.error,
                    "error_at": when(s.error_at),
                }
                for s in status.sources
            ],
        }
        print(json.dumps(record, ensure_ascii=False, indent=2), file=out)
        return

    def local(value: datetime | None) -> str:
        return "-" if value is None else f"{value.astimezone(tz):%Y-%m-%d %H:%M:%S}"

    print("last runs:", file=out)
    if not status.runs:
        print("  none yet", file=out)
    for r in status.runs:
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
        line = f"  {r.job}: {r.status} at {local(r.started)} in {r.duration:.2f}s"
        line += f" on {r.host} pid {r.pid}"
        line += f": {r.error}" if r.error else (f" ({counts})" if counts else "")
        print(line, file=out)
    print("next:", file=out)
    for job, at in status.next_runs.items():
        print(f"  {job}: {local(at)}", file=out)
    counts = ", ".join(f"{v} {k}" for k, v in status.counts.items())
    subscribers = ", ".join(f"{v} {k}" for k, v in status.subscribers.items())
    print(f"store: {counts}; subscribers: {subscribers}", file=out)
    for d in status.digests:
        if d.paused is not None:
            print(f"digest {d.digest}: PAUSED since {local(d.paused[1])}: {d.paused[0]}", file=out)
        if d.last is None:
            print(f"digest {d.digest}: no edition yet", file=out)
            continue
        sent = ", ".join(f"{v} {k}" for k, v in d.deliveries.items()) or "no deliveries"
        back = came_back(d.feedback, d.deliveries.get("sent", 0))
        print(
            f"digest {d.digest}: last edition {local(d.last.slot)} "
            f"({len(d.last.article_ids)} articles; {sent}{'; ' + back if back else ''})",
            file=out,
        )
        if d.progress and d.deliveries.get("pending", 0) + d.deliveries.get("claimed", 0):
            print(f"  sending: {d.progress}", file=out)
    for name, holder in status.locks.items():
        if holder is not None:
            print(f"{name} lock: held by {holder.describe()}", file=out)
    for s in status.sources:
        line = f"source {s.source}: last sync {local(s.synced)}"
        if s.cursor:  # a long one (JSON) is whole in --json
            line += f", cursor {s.cursor if len(s.cursor) <= 80 else s.cursor[:79] + '…'}"
        if s.error:
            line += f"; failed at {local(s.error_at)}: {s.error}"
        print(line, file=out)


def came_back(feedback: FeedbackCounts, sent: int) -> str:
    """What came back of an edition, with the rates that can pause it:
    "3 hard bounces (2.1%), 1 complaint (0.70%)"; "" when nothing did."""
    parts = []
    for count, one, many, places in (
        (feedback.hard, "hard bounce", "hard bounces", 1),
        (feedback.soft, "soft bounce", "soft bounces", 1),
        (feedback.complaints, "complaint", "complaints", 2),
        (feedback.unsubscribes, "unsubscribe by mail", "unsubscribes by mail", None),
    ):
        if count:
            rate = f" ({count / sent:.{places}%})" if sent and places is not None else ""
            parts.append(f"{count} {one if count == 1 else many}{rate}")
    return ", ".join(parts)


def article_json(article: Article) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(article)
    for key in ("published", "updated", "first_seen"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    data["tags"] = [{"name": t.name, "slug": t.slug, "key": t.key} for t in article.tags]
    return data


def print_articles(articles: Sequence[Article], out: TextIO, tz: tzinfo, *, as_json: bool) -> None:
    import json

    for article in articles:
        if as_json:
            print(json.dumps(article_json(article), ensure_ascii=False), file=out)
        else:
            tags = "، ".join(t.name for t in article.tags)
            print(
                f"{article.published.astimezone(tz):%Y-%m-%d %H:%M}  {article.id}  {article.title}"
                + (f"  [{tags}]" if tags else ""),
                file=out,
            )


def print_rejects(rejects: Sequence[Reject], out: TextIO, tz: tzinfo, *, as_json: bool) -> None:
    import json

    for reject in rejects:
        if as_json:
            record = {
                "source": reject.source,
                "location": reject.location,
                "reason": reject.reason,
                "seen": reject.seen.isoformat(),
            }
            print(json.dumps(record, ensure_ascii=False), file=out)
        else:
            print(f"{reject.seen.astimezone(tz):%Y-%m-%d %H:%M}  {reject.describe()}", file=out)


def progress_bar() -> Progress | None:
    """A one-line bar on a terminal; nothing at all under cron (no TTY).

    Written by hand: one line of output does not justify a dependency."""
    stream = sys.stderr
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        stream.write(f"\ringest [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def print_subscriber_record(
    address: str,
    subscriber: Subscriber | None,
    signups: Sequence[Signup],
    consents: Sequence[Consent],
    out: TextIO,
    tz: tzinfo,
) -> None:
    """``subscribers show``: the subscriber, then each consent record (the
    sign-up's time and client, the confirmation's), then the sign-ups still
    kept. Times in site.timezone."""

    def at(value: datetime | None) -> str:
        return "-" if value is None else f"{value.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}"

    if subscriber is None:
        print(f"{address}: not a subscriber", file=out)
    else:
        s = subscriber
        print(f"{s.email}  {s.status}", file=out)
        print(f"  name: {s.name or '-'}", file=out)
        print(f"  digests: {', '.join(s.digests) or 'all'}", file=out)
        print(f"  tags: {', '.join(s.tags) or 'all'}", file=out)
        print(f"  added: {at(s.created)}  changed: {at(s.updated)}", file=out)
    if not consents:
        print("  consent: none recorded (not signed up through the web form)", file=out)
    for c in consents:
        print(
            f"  consent: signed up {at(c.signed_up)} from {c.signup_client}; "
            f"confirmed {at(c.confirmed)} from {c.confirm_client}",
            file=out,
        )
    for signup in signups:
        r = signup.request
        print(
            f"  sign-up #{signup.id}: {at(r.requested)} from {r.client}, {signup.state}"
            + (f", mailed {at(signup.mailed)}" if signup.mailed else ""),
            file=out,
        )
