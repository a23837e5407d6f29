"""The outbox: a Maildir, one file per message key, written atomically,
never twice (not even after a reader took it into cur/), and in new/ only
once ``sync`` made it durable."""

from __future__ import annotations

import dataclasses
import inspect
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from feedpub.delivery import Outbox, Sender, message_key, outbox_recipient
from support.digest_fixtures import DAILY, SLOT


def message(subject: str = "النشرة اليومية") -> EmailMessage:
    made = EmailMessage(policy=policy.SMTP)
    made["Subject"] = subject
    made["From"] = "news@news.example.org"
    made["To"] = "editor@news.example.org"
    made.set_content("\u200fمرحباً\n", cte="quoted-printable")
    return made


def test_the_outbox_is_a_sender(tmp_path: Path) -> None:
    """Every member ``Sender`` names, methods with the same parameters
    (mypy checks ``src/``, not the tests, so this is checked at run time)."""
    outbox = Outbox(tmp_path / "outbox")
    methods = [n for n, v in vars(Sender).items() if inspect.isfunction(v) and n[0] != "_"]
    assert sorted(methods) == ["close", "send", "sync"]
    for name in methods:
        wanted = list(inspect.signature(getattr(Sender, name)).parameters)[1:]
        assert list(inspect.signature(getattr(outbox, name)).parameters) == wanted, name
    assert isinstance(outbox.idempotent, bool) and isinstance(outbox.linesep, bytes)
    outbox.close()


def test_send_puts_one_file_into_new_and_never_a_second_copy(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    key = message_key("daily", SLOT, "editor@news.example.org")
    result = outbox.send(message(), key)
    path = tmp_path / "outbox" / "new" / "daily-20261128T0400Z-editor@news.example.org.eml"
    assert (result.status, result.detail) == ("sent", str(path))
    assert not path.exists()  # not before it is durable
    outbox.sync()
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == ["cur", "new", "tmp"]
    first = path.read_bytes()
    again = outbox.send(message("نسخة ثانية"), key)
    assert again.status == "duplicate"
    assert path.read_bytes() == first
    assert [p.name for p in (tmp_path / "outbox" / "new").iterdir()] == [path.name]
    assert not any((tmp_path / "outbox" / "tmp").iterdir())
    parsed = message_from_bytes(first, policy=policy.default)
    assert parsed["Subject"] == "النشرة اليومية"
    assert b"\r\n" not in first  # LF, as a Maildir keeps messages


@pytest.mark.parametrize("taken_as", ["{name}", "{name}:2,S"])
def test_a_message_taken_into_cur_is_not_written_again(tmp_path: Path, taken_as: str) -> None:
    # A Maildir reader moves what it took from new/ to cur/, maybe adding flags.
    outbox = Outbox(tmp_path)
    key = message_key("daily", SLOT, "editor@news.example.org")
    sent = Path(outbox.send(message(), key).detail)
    outbox.sync()
    sent.rename(outbox.cur / taken_as.format(name=sent.name))
    assert outbox.send(message(), key).status == "duplicate"
    assert not any(outbox.new.iterdir())


def test_other_keys_get_their_own_files(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    a = outbox.send(message(), message_key("daily", SLOT, "a@example.com"))
    b = outbox.send(message(), message_key("daily", SLOT, "b@example.com"))
    assert a.status == b.status == "sent" and a.detail != b.detail


def test_racing_run_that_loses_gets_duplicate_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tmp_path)
    key = "daily-20261128T0400Z-x@example.com"
    winner = outbox.send(message(), key)
    assert winner.status == "sent"
    outbox.sync()
    # The loser (another process) checked before the winner's file appeared:
    # its link into new/ fails, and its copy is dropped.
    loser = Outbox(tmp_path)
    monkeypatch.setattr(Outbox, "holds", lambda self, key: False)
    assert loser.send(message("الخاسر"), key).status == "sent"
    loser.sync()
    monkeypatch.undo()
    assert [p.name for p in outbox.new.iterdir()] == [Path(winner.detail).name]
    assert not any(outbox.tmp.iterdir())
    assert b"=D8=A7=D9=84=D8=AE=D8=A7=D8=B3=D8=B1" not in Path(winner.detail).read_bytes()


def test_a_key_waiting_for_sync_is_a_duplicate_and_close_drops_unsynced_files(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path)
    key = message_key("daily", SLOT, "a@example.com")
    assert outbox.send(message(), key).status == "sent"
    assert outbox.send(message("ثانية"), key).status == "duplicate"
    assert len(list(outbox.tmp.iterdir())) == 1
    outbox.close()  # never synced: never handed over, nothing left behind
    assert not any(outbox.tmp.iterdir()) and not any(outbox.new.iterdir())


def test_sync_puts_a_whole_batch_into_new(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    keys = [message_key("daily", SLOT, f"r{i}@example.com") for i in range(30)]
    for key in keys:
        assert outbox.send(message(), key).status == "sent"
    assert not any(outbox.new.iterdir())
    outbox.sync()
    assert sorted(p.name for p in outbox.new.iterdir()) == sorted(map(outbox.name_for, keys))
    assert not any(outbox.tmp.iterdir())
    for path in outbox.new.iterdir():
        assert message_from_bytes(path.read_bytes(), policy=policy.default)["To"]


def test_an_unwritable_outbox_raises_oserror(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(OSError):
        Outbox(tmp_path / "outbox").send(message(), "daily-x")


@pytest.mark.parametrize(
    ("a", "b"),
    [("daily-x/y", "daily-x_y"), ("../evil", "__evil"), ("a b", "a_b"), ("a:2,S", "a_2_S")],
)
def test_unsafe_keys_are_sanitised_without_collisions(tmp_path: Path, a: str, b: str) -> None:
    outbox = Outbox(tmp_path)
    path_a, path_b = outbox.path_for(a), outbox.path_for(b)
    assert path_a != path_b
    for path in (path_a, path_b):
        # ":" is Maildir's flag separator: never in a name we write.
        assert path.parent == tmp_path / "new" and not path.name.startswith(".")
        assert ":" not in path.name


def test_message_key_uses_utc_and_the_bare_address() -> None:
    assert message_key("daily", SLOT, "Editor <Editor@News.example.org>") == (
        "daily-20261128T0400Z-editor@news.example.org"
    )


def test_outbox_recipient_prefers_reply_to() -> None:
    assert outbox_recipient(DAILY) == "editor@news.example.org"
    assert outbox_recipient(dataclasses.replace(DAILY, reply_to=None)) == DAILY.from_addr
