"""Inbound throughput: messages per second from a Maildir, against a bare
loop that only reads and parses the same files with the standard library.

    .venv/bin/python bench/inbound.py --messages 5000 --repeat 3

The Maildir holds N messages cycled from the corpus (tests/fixtures/inbound:
DSNs of every MTA, complaints, automatic replies, unsubscribes, plain mail),
each made distinct by one header of its own. The store is a SQLite file
with the world the corpus speaks of: 140 sent deliveries (the ids its VERP
addresses carry, the Message-IDs its returned originals have) to subscribers.

Each round, in a fresh copy of the Maildir and the store (untimed):

- ``feedpub``: ``inbound.process`` over the whole Maildir: read, hash,
  classify, look deliveries up, decide, record (a transaction per batch),
  apply the effects to subscribers, move each message out (or to cur/);
- ``bare``: for each file, ``read_bytes`` and ``email.message_from_bytes``.

Wall seconds (perf_counter) of each, alternating in the same round; the
figures are medians over the rounds. The target: feedpub at least 1,000
messages/s. ``tests/bench/test_bench_inbound.py`` runs ``main`` at a tiny size.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

from feedpub.inbound import Keys, MaildirBox, Rules, process
from feedpub.model import Edition, SubscriberStatus
from feedpub.store import SqlStore

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "fixtures" / "inbound"
SECRET = b"feedpub-corpus-secret-0123456789"  # the corpus's tokens were made with it
KEYS = Keys(SECRET, ("daily", "weekly"), "unsubscribe@news.example.org", "bounces@news.example.org")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TARGET = 1_000.0  # messages per second


class Subscribers:
    """The job's subscriber writer over the store (the composition root's)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def subscriber_status(self, address: str) -> SubscriberStatus | None:
        found = self.store.get_subscriber(address)
        return None if found is None else found.status

    def mark_bounced(self, address: str, reason: str, now: datetime) -> bool:
        found = self.store.get_subscriber(address)
        if found is None or found.status != "active":
            return False
        return self.store.set_subscriber_status(address, "bounced", now)

    def unsubscribe(self, address: str, list_name: str | None, reason: str, now: datetime) -> bool:
        found = self.store.get_subscriber(address)
        if found is None or found.status != "active":
            return False
        return self.store.set_subscriber_status(address, "unsubscribed", now)


def corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]


def make_maildir(folder: Path, count: int) -> None:
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True)
    messages = corpus()
    for n in range(count):
        data = f"X-Bench-Seq: {n}\n".encode() + messages[n % len(messages)]
        (folder / "new" / f"1772600000.M{n}P1.bench").write_bytes(data)


def make_store(path: Path) -> None:
    """140 deliveries sent to the corpus's addresses, at the ids its VERP
    tokens name, with the Message-IDs its originals carry."""
    rows = list(csv.DictReader((CORPUS / "expected.csv").read_text("utf-8").splitlines()))
    wanted: dict[int, str] = {}
    for row in rows:
        if row["address"] and row["verp_delivery"]:
            wanted[int(row["verp_delivery"])] = row["address"]
        elif row["address"] and row["original_id"]:
            wanted[int(row["original_id"].split(".")[2].split("@")[0])] = row["address"]
    addresses = [wanted.get(n, f"filler{n}@fill.example") for n in range(1, 141)]
    extra = [r["address"] for r in rows if r["kind"] == "unsubscribe" and r["address"]]
    with SqlStore.open(f"sqlite:///{path}") as store:
        store.add_subscribers(
            [(a, None) for a in dict.fromkeys([*addresses, *extra])], NOW - timedelta(days=30)
        )
        slot = NOW - timedelta(days=1)
        edition_id = store.add_edition_with_deliveries(
            Edition("daily", slot, ("a",), slot), [(None, a, None) for a in addresses], slot
        )
        assert edition_id is not None
        claimed = store.claim_deliveries(edition_id, "bench", 200, NOW, timedelta(minutes=5))
        store.finish_deliveries(
            [(d.id, "sent", f"<177251040412.4242.{d.id}@news.example.org>", None) for d in claimed],
            NOW,
            worker="bench",
        )


def run_feedpub(maildir: Path, store_path: Path) -> tuple[float, int]:
    with SqlStore.open(f"sqlite:///{store_path}") as store:
        started = time.perf_counter()
        report = process(MaildirBox(maildir), store, Subscribers(store), KEYS, Rules(), NOW)
        elapsed = time.perf_counter() - started
    return elapsed, report.read


def run_bare(maildir: Path) -> tuple[float, int]:
    started = time.perf_counter()
    count = 0
    for sub in ("new", "cur"):
        for path in sorted((maildir / sub).iterdir()):
            message_from_bytes(path.read_bytes())
            count += 1
    return time.perf_counter() - started, count


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="a folder for the rounds")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="feedpub-bench-inbound-", dir=args.work))
    try:
        template = work / "template"
        make_maildir(template / "maildir", args.messages)
        make_store(template / "store.db")
        feedpub_s: list[float] = []
        bare_s: list[float] = []
        for round_no in range(args.repeat):
            round_dir = work / f"round{round_no}"
            shutil.copytree(template, round_dir)
            elapsed, read = run_feedpub(round_dir / "maildir", round_dir / "store.db")
            assert read == args.messages, (read, args.messages)
            moved = len(list((round_dir / "maildir" / "new").iterdir()))
            assert moved == 0, f"{moved} messages left in new/"
            feedpub_s.append(elapsed)
            shutil.rmtree(round_dir)
            shutil.copytree(template, round_dir)
            elapsed, read = run_bare(round_dir / "maildir")
            assert read == args.messages
            bare_s.append(elapsed)
            shutil.rmtree(round_dir)
        feedpub_rate = args.messages / statistics.median(feedpub_s)
        bare_rate = args.messages / statistics.median(bare_s)
        results: dict[str, object] = {
            "messages": args.messages,
            "rounds": args.repeat,
            "feedpub": {"seconds": feedpub_s, "per_second": round(feedpub_rate, 1)},
            "bare_parse": {"seconds": bare_s, "per_second": round(bare_rate, 1)},
            "ratio_to_bare": round(feedpub_rate / bare_rate, 3),
            "target_per_second": TARGET,
            "meets_target": feedpub_rate >= TARGET,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    found = main()
    json.dump(found, sys.stdout, indent=2)
    print()
    print(
        f"| inbound, {found['messages']} messages | feedpub "
        f"{found['feedpub']['per_second']:,.0f}/s | bare parse "  # type: ignore[index]
        f"{found['bare_parse']['per_second']:,.0f}/s | ratio {found['ratio_to_bare']} |"  # type: ignore[index]
    )
