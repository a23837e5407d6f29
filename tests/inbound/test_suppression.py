"""The mail that comes back feeds the suppression list (SQLite and
PostgreSQL): a hard bounce, a complaint and an unsubscribe by mail, read
from a Maildir by the inbound job through the writer the composition root
wires, keep the address out of every later import and ``subscribers add``."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedpub.inbound import MaildirBox, process
from feedpub.store import SqlStore
from feedpub.subscribers import ConsentRefused, Roster
from support.inbound_corpus import LISTS, NOW, RULES, StoreStatusWriter, corpus_keys, maildir, seed

# (corpus file, address, kind, how the reason starts)
ENDED = [
    ("postfix-550-5.1.1-user-unknown.eml", "dana@example.net", "bounced", ""),
    ("arf-ses-complaint.eml", "fatima@example.com", "unsubscribed", "spam complaint"),
    (
        "unsubscribe-bare-arabic-from-subscriber.eml",
        "huda@example.com",
        "unsubscribed",
        "unsubscribe by mail from the subscriber's own address",
    ),
]


def test_returned_mail_suppresses_the_address_with_its_reason_and_import_respects_it(
    tmp_path: Path, store: SqlStore
) -> None:
    seed(store)
    files = [f for f, *_ in ENDED] + ["unsubscribe-apple-mail-token.eml"]
    box = maildir(tmp_path / "inbound", files)

    process(MaildirBox(box), store, StoreStatusWriter(store), corpus_keys(), RULES, NOW)

    for file, address, kind, reason in ENDED:
        found = store.suppression(address)
        assert found is not None and found.active, file
        assert (found.kind, found.source) == (kind, "inbound"), file
        assert found.reason.startswith(reason) and found.reason, file
    # One list of two stopped: still a subscriber of the other, not suppressed.
    assert store.suppression("omar@icloud.com") is None

    roster = Roster(store, LISTS)
    for _, address, _, _ in ENDED:
        roster.remove(address, NOW)
        with pytest.raises(ConsentRefused):
            roster.add(address, NOW)
    listing = tmp_path / "list.csv"
    listing.write_text(
        "email\n" + "".join(f"{a.upper()}\n" for _, a, _, _ in ENDED) + "new@example.org\n",
        encoding="utf-8",
    )
    report = roster.import_csv(listing, NOW)
    assert (report.added, len(report.suppressed)) == (1, len(ENDED))
    assert all(store.get_subscriber(a) is None for _, a, _, _ in ENDED)
