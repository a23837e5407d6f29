"""The mail loop as readers and MTAs close it, with real parts.

- A reader unsubscribes with the ``mailto:`` of the digest that reached
  them: the link is read out of the message feedpub wrote, the reply is what
  their mail client sends; the next edition no longer goes to them.
- Debian's postfix on loopback receives digests for readers it does not
  know, sent with the VERP envelope sender of each delivery (as the SMTP
  backend sends once ``delivery.return_path`` is set); its own DSNs go to
  those VERP addresses and land in the Maildir feedpub reads: exactly those
  deliveries and recipients, hard bounces, and those subscribers bounced.
- The same over IMAP: Debian's dovecot-imapd serves that Maildir; the
  messages are read, flagged and moved; kept mail stays unread.
"""

from __future__ import annotations

import imaplib
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from feedpub.app import make_publisher
from feedpub.config import Config, InboundConfig, load_config
from feedpub.inbound import (
    InboundReport,
    Keys,
    classify,
    envelope_sender,
    kept_line,
    list_kept,
    open_mailbox,
    process,
    rules_for,
)
from feedpub.store import SqlStore
from feedpub.tokens import load_secret
from support.dovecot import Dovecot
from support.inbound_corpus import StoreStatusWriter
from support.mail_loop import NOW, SECRET, make_config, publish_news, subscribe
from support.postfix import RETURN_PATH, Postfix


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    with SqlStore.open(f"sqlite:///{tmp_path / 'feedpub.db'}") as opened:
        yield opened


def keys_for(cfg: Config) -> Keys:
    """What the composition root hands the job: the token secret, the
    digests, the unsubscribe address and the return path, from the config."""
    return Keys(
        load_secret(os.environ),
        tuple(d.name for d in cfg.digests),
        cfg.email.unsubscribe_mailto,
        cfg.delivery.return_path,
    )


def run_digest(cfg: Config, store: SqlStore, now: datetime = NOW) -> dict[str, bytes]:
    """Make and deliver the daily edition into the outbox; the messages
    written by this run, by recipient."""
    before = set((cfg.delivery.outbox / "new").glob("*")) if cfg.delivery.outbox.exists() else set()
    with make_publisher(cfg, now=now, store=store) as pub:
        pub.ingest()
        pub.digest("daily")
    found = {}
    for path in sorted(set((cfg.delivery.outbox / "new").glob("*")) - before):
        data = path.read_bytes()
        message = message_from_bytes(data, policy=policy.default)
        found[message["To"].addresses[0].addr_spec] = data
    return found


def edition_deliveries(store: SqlStore) -> tuple[int, dict[str, int]]:
    edition = store.last_edition("daily")
    assert edition is not None
    edition_id = store.edition_id("daily", edition.slot)
    assert edition_id is not None
    return edition_id, {d.address: d.id for d in store.deliveries(edition_id)}


def mailto_reply(digest: bytes, sender: str) -> EmailMessage:
    """What a mail client sends for the ``mailto:`` of the digest's
    List-Unsubscribe (RFC 6068: the address, and the subject it carries)."""
    message = message_from_bytes(digest, policy=policy.default)
    header = " ".join(str(message["List-Unsubscribe"]).split())
    (uri,) = re.findall(r"<(mailto:[^>]+)>", header)
    parts = urlsplit(uri)
    fields = dict(p.split("=", 1) for p in parts.query.split("&"))
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = unquote(parts.path)
    reply["Subject"] = unquote(fields["subject"])
    reply["Message-ID"] = make_msgid(domain="example.org")
    reply["Date"] = "Sun, 29 Nov 2026 09:30:00 +0300"
    reply.set_content("")
    return reply


def inbound(cfg: Config, store: SqlStore, now: datetime) -> InboundReport:
    mailbox = open_mailbox(cfg.inbound)
    try:
        return process(
            mailbox, store, StoreStatusWriter(store), keys_for(cfg), rules_for(cfg.inbound), now
        )
    finally:
        mailbox.close()


def maildir_at(path: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def test_a_reader_leaves_a_list_by_the_mailto_of_the_digest_that_reached_them(
    tmp_path: Path, store: SqlStore
) -> None:
    box = maildir_at(tmp_path / "inbound")
    cfg = make_config(tmp_path, f"inbound:\n  maildir: {box}\n")
    subscribe(store, "lina@example.org", "omar@example.org")
    first = run_digest(cfg, store)
    assert sorted(first) == ["lina@example.org", "omar@example.org"]
    # Each message's envelope sender names its delivery (VERP), as the outbox keeps it.
    senders = {data.split(b"\n", 1)[0] for data in first.values()}
    assert len(senders) == 2
    assert all(
        re.fullmatch(rb"Return-Path: <bounces\+[a-z0-9]{26}@news\.example\.org>", s)
        for s in senders
    )

    # The MTA delivers lina's mail client's message to the unsubscribe address.
    reply = mailto_reply(first["lina@example.org"], "Lina <lina@example.org>")
    assert reply["To"] == "unsubscribe@news.example.org"
    (box / "new" / "1764400000.M1P1.mx").write_bytes(reply.as_bytes())
    report = inbound(cfg, store, NOW + timedelta(hours=1))
    assert (report.unsubscribes, report.unsubscribed) == (1, 1)

    lina = store.get_subscriber("lina@example.org")
    assert lina is not None and lina.status == "active" and lina.digests == ("weekly",)
    publish_news(tmp_path)
    second = run_digest(cfg, store, NOW + timedelta(days=1))
    assert sorted(second) == ["omar@example.org"]


def send_through(
    server: Postfix, cfg: Config, digests: dict[str, bytes], ids: dict[str, int]
) -> None:
    """Hand each digest to the MTA with its delivery's VERP envelope sender."""
    secret = load_secret(os.environ)
    assert cfg.delivery.return_path is not None
    for address, data in digests.items():
        sender = envelope_sender(secret, cfg.delivery.return_path, ids[address])
        server.send(sender, [address], data)


READERS = ("ghost@readers.test", "left.long.ago@readers.test")


def test_postfix_bounces_land_in_the_maildir_and_bounce_exactly_those_subscribers(
    tmp_path: Path, store: SqlStore, postfix: Postfix
) -> None:
    cfg = make_config(tmp_path, f"inbound:\n  maildir: {postfix.maildir}\n")
    subscribe(store, *READERS, "stays@example.org")
    digests = run_digest(cfg, store)
    edition_id, ids = edition_deliveries(store)
    send_through(postfix, cfg, {a: digests[a] for a in READERS}, ids)
    reports = postfix.delivered(2)

    # The classifier alone: each DSN names its delivery and its recipient.
    found = {}
    for path in reports:
        classified = classify(path.read_bytes(), keys_for(cfg))
        assert classified.kind == "bounce" and classified.detector == "rfc3464"
        (recipient,) = classified.recipients
        assert (recipient.kind, recipient.status) == ("hard", "5.1.1")
        found[classified.verp_delivery] = recipient.address
    assert found == {ids[a]: a for a in READERS}

    report = inbound(cfg, store, NOW + timedelta(hours=1))
    assert (report.read, report.bounces, report.bounced) == (2, 2, 2)
    for address in READERS:
        subscriber = store.get_subscriber(address)
        assert subscriber is not None and subscriber.status == "bounced"
    stays = store.get_subscriber("stays@example.org")
    assert stays is not None and stays.status == "active"
    assert store.feedback_counts(edition_id).hard == 2
    assert not list((postfix.maildir / "new").iterdir())
    assert len(list((postfix.maildir / "processed" / "cur").iterdir())) == 2
    # The next edition goes to the one left; a rerun of the inbound job finds nothing new.
    publish_news(tmp_path)
    assert sorted(run_digest(cfg, store, NOW + timedelta(days=1))) == ["stays@example.org"]
    assert inbound(cfg, store, NOW + timedelta(days=1)).read == 0


def imap_session(server: Dovecot) -> imaplib.IMAP4:
    conn = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    conn.login(server.username, server.password)
    return conn


def test_over_imap_the_same_reports_are_read_flagged_and_moved(
    tmp_path: Path,
    store: SqlStore,
    postfix: Postfix,
    dovecot_for: Callable[[Path], Dovecot],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = dovecot_for(postfix.maildir)
    monkeypatch.setenv("FEEDPUB_IMAP_PASSWORD", server.password)
    cfg = make_config(
        tmp_path,
        "inbound:\n  imap:\n    host: 127.0.0.1\n"
        f"    port: {server.port}\n    security: none\n    username: {server.username}\n",
    )
    assert isinstance(cfg.inbound, InboundConfig) and cfg.inbound.imap is not None
    subscribe(store, READERS[0], "lina@example.org")
    digests = run_digest(cfg, store)
    _, ids = edition_deliveries(store)
    send_through(postfix, cfg, {READERS[0]: digests[READERS[0]]}, ids)
    # lina unsubscribes by mail, and a reader writes to the bounce address.
    postfix.send(
        "lina@example.org",
        ["unsubscribe@news.example.org"],
        mailto_reply(digests["lina@example.org"], "lina@example.org").as_bytes(),
    )
    note = EmailMessage()
    note["From"], note["To"], note["Subject"] = "sami@example.org", RETURN_PATH, "شكراً"
    note.set_content("شكراً على النشرة")
    postfix.send("sami@example.org", [RETURN_PATH], note.as_bytes())
    postfix.delivered(3)

    report = inbound(cfg, store, NOW + timedelta(hours=1))
    assert (report.read, report.bounces, report.unsubscribes, report.kept) == (3, 1, 1, 1)
    ghost, lina = store.get_subscriber(READERS[0]), store.get_subscriber("lina@example.org")
    assert ghost is not None and ghost.status == "bounced"
    assert lina is not None and lina.digests == ("weekly",)

    conn = imap_session(server)
    try:
        conn.select("INBOX")
        _, data = conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])")
        left = [item for item in data if isinstance(item, tuple)]
        assert len(left) == 1 and b"sami@example.org" in left[0][1]
        assert b"\\Seen" not in left[0][0]  # kept for a person, still unread
        conn.select("processed")
        _, data = conn.uid("FETCH", "1:*", "(FLAGS)")
        flags = [item for item in data if item]
        assert len(flags) == 2
        assert all(b"\\Seen" in f and b"$FeedpubProcessed" in f for f in flags)  # type: ignore[operator]
    finally:
        conn.logout()

    mailbox = open_mailbox(cfg.inbound)
    try:
        listed = [kept_line(r) for r in list_kept(mailbox, store)]
    finally:
        mailbox.close()
    assert len(listed) == 1 and "sami@example.org  شكراً" in listed[0]
    again = inbound(cfg, store, NOW + timedelta(hours=2))
    assert again.read == 0 and again.summary().endswith("no new mail")


def test_a_wrong_imap_password_is_one_clear_error(
    tmp_path: Path,
    postfix: Postfix,
    dovecot_for: Callable[[Path], Dovecot],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from feedpub.inbound import InboundError

    server = dovecot_for(postfix.maildir)
    monkeypatch.setenv("FEEDPUB_IMAP_PASSWORD", "not-the-password")
    cfg = make_config(
        tmp_path,
        "inbound:\n  imap:\n    host: 127.0.0.1\n"
        f"    port: {server.port}\n    security: none\n    username: {server.username}\n",
    )
    with pytest.raises(InboundError, match=rf"imap://bounces@127.0.0.1:{server.port}/INBOX: "):
        open_mailbox(cfg.inbound)


def test_feedpub_run_sends_through_postfix_and_reads_its_bounces_back(
    tmp_path: Path, store: SqlStore, postfix: Postfix
) -> None:
    """The whole loop as an operator runs it, nothing built by hand: the SMTP
    backend hands each digest to Postfix with its delivery's VERP envelope
    sender; Postfix's own reports land in the Maildir; the next run's inbound
    job bounces exactly those readers; the rates show in status."""
    cfg = make_config(tmp_path, f"inbound:\n  maildir: {postfix.maildir}\n")
    text = cfg.path.read_text("utf-8").replace(
        "  backend: outbox\n",
        f"  backend: smtp\n  smtp:\n    host: 127.0.0.1\n    port: {postfix.port}\n"
        "    security: none\n  pause_min_deliveries: 3\n",
    )
    cfg.path.write_text(text, "utf-8")
    cfg = load_config(cfg.path)
    subscribe(store, *READERS, "stays@example.org")
    with make_publisher(cfg, now=NOW, store=store) as pub:
        assert not [o.run.error for o in pub.run_jobs() if o.failed]
    reports = postfix.delivered(2)
    envelope = [message_from_bytes(p.read_bytes())["Delivered-To"] for p in reports]
    assert all(to.startswith("bounces+") for to in envelope)  # each report names its delivery

    with make_publisher(cfg, now=NOW + timedelta(hours=1), store=store) as pub:
        outcomes = {o.run.job: o for o in pub.run_jobs()}
        assert outcomes["inbound"].run.counts["bounced"] == 2
        # Two of three messages came back hard: the daily digest is paused.
        assert outcomes["digest daily"].failed
        assert "paused" in str(outcomes["digest daily"].run.error)
        status = pub.status()
    for address in READERS:
        subscriber = store.get_subscriber(address)
        assert subscriber is not None and subscriber.status == "bounced"
    (daily,) = [d for d in status.digests if d.digest == "daily"]
    assert daily.feedback.hard == 2 and daily.paused is not None
