"""The inbound job over a Maildir and a real store (SQLite and PostgreSQL):
the whole corpus processed once, what a crash at each step leaves, soft
bounces counted across runs, copies, kept mail, SMTP refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedpub.inbound import (
    MaildirBox,
    envelope_sender,
    kept_line,
    list_kept,
    process,
    record_refusal,
)
from feedpub.model import Edition
from feedpub.store import SqlStore
from support.inbound_corpus import (
    CORPUS,
    CORPUS_SECRET,
    EXPECTED,
    NOW,
    RETURN_PATH,
    RULES,
    UNNAMED,
    StoreStatusWriter,
    corpus_keys,
    maildir,
    seed,
)


def status(store: SqlStore, address: str) -> str:
    found = store.get_subscriber(address)
    assert found is not None, address
    return found.status


def test_the_whole_corpus_is_processed_once_and_moved(tmp_path: Path, store: SqlStore) -> None:
    edition_id, _addresses = seed(store)
    box = maildir(tmp_path / "inbound", EXPECTED)
    writer = StoreStatusWriter(store)
    # Batches of 7: kept messages moved to cur/ by one batch are not read again by the next.
    report = process(MaildirBox(box), store, writer, corpus_keys(), RULES, NOW, batch=7)

    kinds = [r["kind"] for r in EXPECTED.values()]
    assert report.read == len(EXPECTED)
    assert (report.bounces, report.complaints, report.unsubscribes, report.auto_replies) == (
        kinds.count("bounce"),
        kinds.count("complaint"),
        kinds.count("unsubscribe"),
        kinds.count("auto_reply"),
    )
    # Hard bounces: bounced, whoever the report named (the delivery wins).
    for row in EXPECTED.values():
        if row["feedback"] == "hard":
            assert status(store, row["address"]) == "bounced", row["file"]
        if row["feedback"] in ("soft", "delayed"):  # one soft bounce, or a warning: still mailed
            assert status(store, row["address"]) == "active", row["file"]
    # Complaints: unsubscribed, the redacted ones through their delivery.
    for address in (
        "reader7@mail.ru",
        "salma@outlook.com",
        "fatima@example.com",
        *UNNAMED.values(),
    ):
        assert status(store, address) == "unsubscribed", address
    # Unsubscribes by mail: the list the token names, or every list.
    one = store.get_subscriber("reader.one@gmail.com")
    assert one is not None and one.status == "active" and one.digests == ("weekly",)
    assert status(store, "omar@icloud.com") == "active"  # daily stopped, weekly kept
    assert status(store, "huda@example.com") == "unsubscribed"
    assert store.get_subscriber("prankster@evil.example") is None  # never a subscriber
    assert (
        status(store, "victim@example.com") if store.get_subscriber("victim@example.com") else True
    )
    # Kept for a person: the mail no rule acts on.
    kept = {
        "other-reader-reply-thanks.eml",
        "other-spam.eml",
        "other-undeliverable-without-recipient.eml",
        "unsubscribe-forged-token.eml",
    }
    assert report.kept == len(kept) == len(report.kept_lines)
    assert len(list((box / "cur").iterdir())) == len(kept)
    assert all(p.name.endswith(":2,") for p in (box / "cur").iterdir())  # still unread
    assert not list((box / "new").iterdir())
    processed = list((box / "processed" / "cur").iterdir())
    assert len(processed) == len(EXPECTED) - len(kept)
    assert all(p.name.endswith(":2,S") for p in processed)
    # The edition's feedback, each delivery once per kind.
    counts = store.feedback_counts(edition_id)
    hard_verp = [
        r
        for r in EXPECTED.values()
        if r["feedback"] == "hard" and (r["verp_delivery"] or r["original_id"])
    ]
    assert counts.hard == len(hard_verp)
    assert counts.complaints == 5 and counts.soft == 2

    calls = list(writer.calls)
    again = process(MaildirBox(box), store, writer, corpus_keys(), RULES, NOW + timedelta(hours=1))
    assert again.summary().endswith("no new mail") and writer.calls == calls


def test_the_summary_says_what_happened(tmp_path: Path, store: SqlStore) -> None:
    seed(store)
    box = maildir(tmp_path / "inbound", ["postfix-550-5.1.1-user-unknown.eml", "other-spam.eml"])
    report = process(MaildirBox(box), store, StoreStatusWriter(store), corpus_keys(), RULES, NOW)
    assert report.summary() == (
        f"inbound: maildir:{box}: 2 read: 1 bounce, 1 kept for a person; "
        "1 marked bounced, 0 unsubscribed"
    )
    assert report.kept_lines == (
        "2026-03-04 12:00Z  winner@lottery.example  You have won 1,000,000 USD!!!  "
        "[1772600000.M0P1.mx]",
    )


class CrashingBox(MaildirBox):
    """A Maildir whose process dies at the n-th move."""

    def __init__(self, path: Path, die_at: int) -> None:
        super().__init__(path)
        self.moves = 0
        self.die_at = die_at

    def processed(self, location: str) -> None:
        self.moves += 1
        if self.moves == self.die_at:
            raise KeyboardInterrupt("killed while moving")
        super().processed(location)


def test_a_crash_while_moving_leaves_the_effects_done_once(tmp_path: Path, store: SqlStore) -> None:
    seed(store)
    box = maildir(tmp_path / "inbound", EXPECTED)
    writer = StoreStatusWriter(store)
    with pytest.raises(KeyboardInterrupt):
        process(CrashingBox(box, die_at=3), store, writer, corpus_keys(), RULES, NOW)
    calls = list(writer.calls)
    assert calls and list((box / "new").iterdir())  # decided and applied, not all moved
    report = process(MaildirBox(box), store, writer, corpus_keys(), RULES, NOW)
    assert writer.calls == calls  # nothing decided or applied a second time
    assert report.again == report.read and report.bounces == 0
    assert not list((box / "new").iterdir())
    assert len(list((box / "processed" / "cur").iterdir())) == len(EXPECTED) - 4


class FailingWriter(StoreStatusWriter):
    """The subscribers' store fails after a few changes (a lost connection)."""

    def __init__(self, store: SqlStore, fail_after: int) -> None:
        super().__init__(store)
        self.fail_after = fail_after

    def mark_bounced(self, address: str, reason: str, now: object) -> bool:  # type: ignore[override]
        if len(self.calls) >= self.fail_after:
            raise OSError("connection lost")
        return super().mark_bounced(address, reason, now)  # type: ignore[arg-type]


def soft_dsn(delivery_id: int, address: str, n: int) -> bytes:
    """The corpus's Postfix "gave up, mailbox full" report, for another delivery."""
    text = (CORPUS / "postfix-452-4.2.2-mailbox-full-gave-up.eml").read_text("utf-8")
    text = text.replace(
        envelope_sender(CORPUS_SECRET, RETURN_PATH, 102),
        envelope_sender(CORPUS_SECRET, RETURN_PATH, delivery_id),
    )
    text = text.replace("rana.h@example.com", address).replace(
        "4Qy2Lm0Zk8z9ts", f"4Qy2Lm0Zk8z{n:03d}"
    )
    return text.encode()


def editions_to(store: SqlStore, address: str, count: int) -> list[int]:
    """The deliveries of ``count`` more daily editions to ``address``, sent."""
    ids = []
    for n in range(count):
        slot = NOW - timedelta(days=30 - n)
        edition_id = store.add_edition_with_deliveries(
            Edition("daily", slot, ("a",), slot), [(None, address, None)], slot
        )
        assert edition_id is not None
        (claimed,) = store.claim_deliveries(edition_id, "w", 1, NOW, timedelta(minutes=5))
        store.finish_deliveries([(claimed.id, "sent", f"<s{claimed.id}@x>", None)], NOW, worker="w")
        ids.append(claimed.id)
    return ids


def drop(box: Path, name: str, data: bytes) -> None:
    (box / "new" / name).write_bytes(data)


def test_a_crash_while_applying_applies_the_recorded_effects_next_time(
    tmp_path: Path, store: SqlStore
) -> None:
    _, _addresses = seed(store)
    box = maildir(
        tmp_path / "inbound",
        ["postfix-550-5.1.1-user-unknown.eml", "sendmail-550-5.1.1-user-unknown.eml"],
    )
    with pytest.raises(OSError, match="connection lost"):
        process(MaildirBox(box), store, FailingWriter(store, 1), corpus_keys(), RULES, NOW)
    assert status(store, "dana@example.net") == "bounced"
    assert status(store, "yusuf@example.edu") == "active"  # recorded, not applied
    assert len(list((box / "new").iterdir())) == 2  # nothing moved before its effect
    writer = StoreStatusWriter(store)
    report = process(MaildirBox(box), store, writer, corpus_keys(), RULES, NOW)
    assert status(store, "yusuf@example.edu") == "bounced"
    assert report.again == 2 and report.bounces == 0  # decided in the first run only
    assert not list((box / "new").iterdir())


def test_soft_bounces_mark_the_address_at_the_third_delivery_within_the_window(
    tmp_path: Path, store: SqlStore
) -> None:
    _, addresses = seed(store)
    address = addresses[3]
    box = maildir(tmp_path / "inbound")
    ids = editions_to(store, address, 3)
    for n, (delivery_id, days) in enumerate(zip(ids, (0, 5, 10), strict=True)):
        drop(box, f"soft{n}", soft_dsn(delivery_id, address, n))
        process(
            MaildirBox(box),
            store,
            StoreStatusWriter(store),
            corpus_keys(),
            RULES,
            NOW + timedelta(days=days),
        )
        assert status(store, address) == ("bounced" if n == 2 else "active")


def test_soft_bounces_outside_the_window_do_not_add_up(tmp_path: Path, store: SqlStore) -> None:
    _, addresses = seed(store)
    address = addresses[3]
    box = maildir(tmp_path / "inbound")
    ids = editions_to(store, address, 4)
    for n, (delivery_id, days) in enumerate(zip(ids, (0, 16, 32, 48), strict=True)):
        drop(box, f"soft{n}", soft_dsn(delivery_id, address, n))
        process(
            MaildirBox(box),
            store,
            StoreStatusWriter(store),
            corpus_keys(),
            RULES,
            NOW + timedelta(days=days),
        )
    assert status(store, address) == "active"


def test_soft_bounces_of_one_batch_count_each_other(tmp_path: Path, store: SqlStore) -> None:
    _, addresses = seed(store)
    box = maildir(tmp_path / "inbound")
    for n, delivery_id in enumerate(editions_to(store, addresses[3], 3)):
        drop(box, f"soft{n}", soft_dsn(delivery_id, addresses[3], n))
    process(MaildirBox(box), store, StoreStatusWriter(store), corpus_keys(), RULES, NOW)
    assert status(store, addresses[3]) == "bounced"


@pytest.mark.parametrize("batch", [1, 200])
def test_two_copies_of_one_message_have_one_effect(
    tmp_path: Path, store: SqlStore, batch: int
) -> None:
    seed(store)
    box = maildir(tmp_path / "inbound")
    data = (CORPUS / "postfix-550-5.1.1-user-unknown.eml").read_bytes()
    drop(box, "copy1", data)
    drop(box, "copy2", data.replace(b"\n", b"\r\n"))  # the same message, other line ends
    writer = StoreStatusWriter(store)
    report = process(MaildirBox(box), store, writer, corpus_keys(), RULES, NOW, batch=batch)
    assert writer.calls == [("bounce", "dana@example.net", None)]
    assert (report.read, report.bounces, report.again) == (2, 1, 1)
    assert len(list((box / "processed" / "cur").iterdir())) == 2


def test_kept_mail_is_listed_until_a_person_takes_it(tmp_path: Path, store: SqlStore) -> None:
    seed(store)
    box = maildir(
        tmp_path / "inbound",
        ["other-spam.eml", "other-reader-reply-thanks.eml", "gmail-delay-4.4.1.eml"],
    )
    process(MaildirBox(box), store, StoreStatusWriter(store), corpus_keys(), RULES, NOW)
    listed = [kept_line(r) for r in list_kept(MaildirBox(box), store)]
    assert len(listed) == 2 and any("lina@example.org  شكراً على النشرة" in line for line in listed)
    for path in (box / "cur").iterdir():
        if "M1P1" in path.name:  # the person reads and files the reply elsewhere
            path.unlink()
    assert len(list_kept(MaildirBox(box), store)) == 1
    # A kept message is not read again by the next run.
    report = process(MaildirBox(box), store, StoreStatusWriter(store), corpus_keys(), RULES, NOW)
    assert report.read == 0


def test_bytes_no_parser_understands_are_kept_not_lost(tmp_path: Path, store: SqlStore) -> None:
    seed(store)
    box = maildir(tmp_path / "inbound")
    drop(box, "garbage", b"\x00\xff\xfe not a message \x81\x82\n\n\n--")
    report = process(MaildirBox(box), store, StoreStatusWriter(store), corpus_keys(), RULES, NOW)
    assert report.kept == 1 and [p.name for p in (box / "cur").iterdir()] == ["garbage:2,"]


def test_a_maildir_that_is_not_one_is_refused_naming_the_key(tmp_path: Path) -> None:
    from feedpub.inbound import InboundError

    with pytest.raises(InboundError, match=r"inbound.maildir: .* is not a Maildir"):
        MaildirBox(tmp_path)


def test_an_smtp_refusal_bounces_the_address_once(store: SqlStore) -> None:
    edition_id, addresses = seed(store)
    writer = StoreStatusWriter(store)
    detail = f"{addresses[9]}: 550 5.1.1 <{addresses[9]}>: Recipient address rejected"
    for _ in range(2):
        effects = record_refusal(
            store, writer, RULES, delivery_id=9, address=addresses[9], detail=detail, now=NOW
        )
        assert [(e.address, e.action, e.delivery_id) for e in effects] == [
            (addresses[9], "bounce", 9)
        ]
    assert writer.calls == [("bounce", addresses[9], None)]
    assert status(store, addresses[9]) == "bounced"
    assert store.feedback_counts(edition_id).hard == 1
    assert (
        record_refusal(
            store,
            writer,
            RULES,
            delivery_id=10,
            address=addresses[10],
            detail="451 4.7.1 later",
            now=NOW,
        )
        == ()
    )
