"""Internationalised addresses (RFC 6531/6532, issue 22 finding 9): the
address itself is UTF-8 in the To header, never an encoded-word inside it;
the message goes with SMTPUTF8 to a relay that offers it, and is deferred,
saying why, by one that does not."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from feedpub.app import make_publisher
from feedpub.delivery.smtp import SmtpSender, SmtpSettings
from feedpub.store import SqlStore
from support.delivery_site import NOW, SECRET, add_readers, make_cfg
from support.smtp_relay import HOST, Recorder, smtp_server

WIDE = ("قارئ@مثال.com", "a6@مثال.com")


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


class Utf8Recorder(Recorder):
    """Also keeps the MAIL FROM parameters of each message."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_options: list[list[str]] = []

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.mail_options.append(list(options))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"


def send(tmp_path: Path, store: SqlStore, handler: Recorder, **server: Any) -> Any:
    with smtp_server(handler, **server) as port:
        cfg = make_cfg(tmp_path, "sqlite:///unused.db", port)
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.use_sender(SmtpSender(SmtpSettings(HOST, port, security="none", timeout=5.0)))
            pub.ingest()
            return pub.digest("daily")


def add_wide(store: SqlStore) -> None:
    for i, address in enumerate(WIDE):
        store.add_subscriber(address, NOW - timedelta(days=1), name=f"قارئ {i}", status="active")


def to_line(content: bytes) -> bytes:
    (line,) = [raw for raw in content.split(b"\r\n") if raw.startswith(b"To: ")]
    return line


def test_an_international_address_is_utf8_in_to_and_goes_with_smtputf8(
    tmp_path: Path, store: SqlStore
) -> None:
    plain = add_readers(store, 2)
    add_wide(store)
    handler = Utf8Recorder()
    outcome = send(tmp_path, store, handler)
    assert len(outcome.delivered) == 4 and not outcome.deferred
    # The envelope: a non-ASCII local part as it is, a non-ASCII domain as IDNA.
    assert Counter(handler.recipients()) == Counter(
        [*plain, "قارئ@xn--mgbh0fb.com", "a6@xn--mgbh0fb.com"]
    )
    for _, (rcpt,), content in handler.delivered:
        line = to_line(content)
        if rcpt in plain:
            assert line.isascii()
            continue
        assert b"=?" not in line.split(b"<")[-1]  # never an encoded-word in the address
        wide = WIDE[0] if rcpt.startswith("قارئ") else WIDE[1]
        assert line.endswith(f"<{wide}>".encode())
    options = [o for o in handler.mail_options if "SMTPUTF8" in o]
    assert len(options) == 2  # only the two that need it


def test_a_relay_without_smtputf8_defers_them_and_says_why(tmp_path: Path, store: SqlStore) -> None:
    plain = add_readers(store, 2)
    add_wide(store)
    handler = Recorder()
    outcome = send(tmp_path, store, handler, enable_SMTPUTF8=False)
    assert sorted(handler.recipients()) == sorted(plain)
    assert outcome.deferred == 2 and len(outcome.delivered) == 2
    edition_id = store.edition_id("daily", outcome.edition.slot)
    assert edition_id is not None
    rows = {d.address: d for d in store.deliveries(edition_id)}
    for address in WIDE:
        assert rows[address].status == "pending"  # for a later run, maybe another relay
        assert "does not offer SMTPUTF8" in (rows[address].last_error or "")
        assert address in (rows[address].last_error or "")
