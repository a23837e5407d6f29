"""What the inbound tests share: the corpus of returned mail
(tests/fixtures/inbound) and its keys, the world it answers (an edition of
140 deliveries to the corpus's addresses, ``seed``, and a Maildir holding
some of its files, ``maildir``), and the subscriber writer the composition
root wires (the job's ``SubscriberStatusWriter``: ``subscribers.ReturnedMail``
over the store), recording its calls."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedpub.inbound import Keys, Rules
from feedpub.model import Edition
from feedpub.store import SqlStore
from feedpub.subscribers import ReturnedMail

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "inbound"
# The secret the corpus's VERP addresses and unsubscribe tokens were made with.
CORPUS_SECRET = b"feedpub-corpus-secret-0123456789"
RETURN_PATH = "bounces@news.example.org"
UNSUBSCRIBE = "unsubscribe@news.example.org"
LISTS = ("daily", "weekly")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def corpus_keys() -> Keys:
    return Keys(CORPUS_SECRET, LISTS, UNSUBSCRIBE, RETURN_PATH)


class StoreStatusWriter(ReturnedMail):
    """The writer the composition root wires (``subscribers.ReturnedMail``:
    statuses and the suppression list in the store), recording each call."""

    def __init__(self, store: SqlStore, lists: Sequence[str] = LISTS) -> None:
        super().__init__(store, list(lists))
        self.store = store
        self.calls: list[tuple[str, str, str | None]] = []

    def mark_bounced(self, address: str, reason: str, now: datetime) -> bool:
        self.calls.append(("bounce", address, None))
        return super().mark_bounced(address, reason, now)

    def unsubscribe(self, address: str, list_name: str | None, reason: str, now: datetime) -> bool:
        self.calls.append(("unsubscribe", address, list_name))
        return super().unsubscribe(address, list_name, reason, now)


EXPECTED = {
    r["file"]: r for r in csv.DictReader((CORPUS / "expected.csv").read_text("utf-8").splitlines())
}
RULES = Rules()
# Deliveries the corpus names by VERP id or Message-ID whose reports do not
# name the address (redacted complaints): these are their recipients.
UNNAMED = {124: "cfl.reader@yahoo.com", 128: "isp.reader@isp.example.net"}
SUBSCRIBERS_ONLY = ("ghada@example.info", "faris@example.com", "huda@example.com")


def corpus_recipients() -> dict[int, str]:
    """Delivery id -> address, for the deliveries the corpus speaks of."""
    found = dict(UNNAMED)
    for row in EXPECTED.values():
        if row["verp_delivery"] and row["address"]:
            found[int(row["verp_delivery"])] = row["address"]
        elif row["original_id"] and row["address"] and not row["verp_delivery"]:
            found[int(row["original_id"].split(".")[2].split("@")[0])] = row["address"]
    return found


def message_id(delivery_id: int) -> str:
    return f"<177251040412.4242.{delivery_id}@news.example.org>"


def seed(store: SqlStore) -> tuple[int, dict[int, str]]:
    """The corpus's world: an edition of 140 deliveries, all sent, those the
    corpus answers with the corpus's addresses (at the ids its VERP tokens
    carry), every address an active subscriber of both digests."""
    wanted = corpus_recipients()
    addresses = {n: wanted.get(n, f"filler{n}@fill.example") for n in range(1, 141)}
    extra = ("reader.one@gmail.com", "omar@icloud.com", "salma@outlook.com", *SUBSCRIBERS_ONLY)
    everyone = [*addresses.values(), *extra]
    store.add_subscribers([(a, None) for a in everyone], NOW - timedelta(days=30), status="active")
    edition = Edition("daily", NOW - timedelta(days=1), ("a",), NOW - timedelta(days=1))
    edition_id = store.add_edition_with_deliveries(
        edition, [(None, addresses[n], None) for n in range(1, 141)], NOW - timedelta(days=1)
    )
    assert edition_id is not None
    claimed = store.claim_deliveries(edition_id, "w", 200, NOW, timedelta(minutes=5))
    by_address = {d.address: d.id for d in claimed}
    assert [by_address[addresses[n]] for n in range(1, 141)] == list(range(1, 141))
    store.finish_deliveries(
        [(d.id, "sent", message_id(d.id), None) for d in claimed], NOW, worker="w"
    )
    return edition_id, addresses


def maildir(root: Path, files: Collection[str] = ()) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for n, name in enumerate(sorted(files)):
        shutil.copyfile(CORPUS / name, root / "new" / f"1772600000.M{n}P1.mx")
    return root
