"""The registry of kinds of inbound mail: a reader registered by a test (a
provider's own complaint notice, no other module touched) is used by the
real inbound job over a Maildir and a real store."""

from __future__ import annotations

import re
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from feedpub.inbound import MaildirBox, Rules, classify, process
from feedpub.inbound.classify import READERS, Classified, Recipient, Seen
from feedpub.store import SqlStore
from support.inbound_corpus import NOW, StoreStatusWriter, corpus_keys

_NOTICE = re.compile(r"^X-Loop-Complaint: address=(\S+)", re.M)


def provider_complaint(seen: Seen) -> Classified | None:
    """A mailbox provider's own notice: a header naming the complaining address."""
    found = _NOTICE.search(seen.data.decode("utf-8", "replace"))
    if found is None:
        return None
    return Classified(
        "complaint",
        "provider-header",
        message_id=seen.base.message_id,
        sender=seen.base.sender,
        recipients=(Recipient(found.group(1).lower(), "complaint"),),
    )


def test_a_registered_reader_is_used_by_the_inbound_job(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    notice = EmailMessage()
    notice["From"] = "feedback@provider.example"
    notice["To"] = "bounces@news.example.org"
    notice["Subject"] = "complaint"
    notice["X-Loop-Complaint"] = "address=Reader@Example.org"
    notice.set_content("A reader marked your message as spam.")
    assert classify(notice.as_bytes(), corpus_keys()).kind == "other"  # unknown before

    # The package's ``classify`` is the function; the registry is its module's.
    module = sys.modules["feedpub.inbound.classify"]
    monkeypatch.setattr(module, "READERS", [provider_complaint, *READERS])
    assert classify(notice.as_bytes(), corpus_keys()).detector == "provider-header"
    box = tmp_path / "inbound"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1.M1.host").write_bytes(notice.as_bytes())
    store.add_subscriber("reader@example.org", NOW, status="active")
    report = process(MaildirBox(box), store, StoreStatusWriter(store), corpus_keys(), Rules(), NOW)
    assert (report.complaints, report.unsubscribed) == (1, 1)
    found = store.get_subscriber("reader@example.org")
    assert found is not None and found.status == "unsubscribed"
