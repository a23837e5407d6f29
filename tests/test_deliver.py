"""The outbox: one .eml per message key, written atomically, never twice."""

from __future__ import annotations

import dataclasses
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from _digest_fixtures import SLOT, make_config
from feedpub.delivery import Outbox, message_key, outbox_recipient


def message(subject: str = "النشرة اليومية") -> EmailMessage:
    made = EmailMessage(policy=policy.SMTP)
    made["Subject"] = subject
    made["From"] = "news@news.example.org"
    made["To"] = "editor@news.example.org"
    made.set_content("\u200fمرحباً\n", cte="quoted-printable")
    return made


def test_deliver_writes_one_eml_and_never_a_second_copy(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    key = message_key("daily", SLOT, "editor@news.example.org")
    path = outbox.deliver(message(), key)
    assert path == tmp_path / "outbox" / "daily-20261128T0400Z-editor@news.example.org.eml"
    first = path.read_bytes()
    assert outbox.deliver(message("نسخة ثانية"), key) is None
    assert path.read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [path.name]
    parsed = message_from_bytes(first, policy=policy.default)
    assert parsed["Subject"] == "النشرة اليومية"
    assert b"\r\n" in first  # canonical CRLF, as sent over SMTP


def test_other_keys_get_their_own_files(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    a = outbox.deliver(message(), message_key("daily", SLOT, "a@example.com"))
    b = outbox.deliver(message(), message_key("daily", SLOT, "b@example.com"))
    assert a is not None and b is not None and a != b


def test_racing_run_that_loses_gets_none_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tmp_path)
    key = "daily-20261128T0400Z-x@example.com"
    winner = outbox.deliver(message(), key)
    assert winner is not None
    # The loser checked before the winner's file appeared.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert outbox.deliver(message("الخاسر"), key) is None
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [winner.name]
    assert b"=D8=A7=D9=84=D8=AE=D8=A7=D8=B3=D8=B1" not in winner.read_bytes()


@pytest.mark.parametrize(
    ("a", "b"),
    [("daily-x/y", "daily-x_y"), ("../evil", "__evil"), ("a b", "a_b")],
)
def test_unsafe_keys_are_sanitised_without_collisions(tmp_path: Path, a: str, b: str) -> None:
    outbox = Outbox(tmp_path)
    path_a, path_b = outbox.path_for(a), outbox.path_for(b)
    assert path_a != path_b
    for path in (path_a, path_b):
        assert path.parent == tmp_path and not path.name.startswith(".")


def test_message_key_uses_utc_and_the_bare_address() -> None:
    assert message_key("daily", SLOT, "Editor <Editor@News.example.org>") == (
        "daily-20261128T0400Z-editor@news.example.org"
    )


def test_outbox_recipient_prefers_reply_to(tmp_path: Path) -> None:
    daily = make_config(tmp_path).digest("daily")
    assert outbox_recipient(daily) == "editor@news.example.org"
    assert outbox_recipient(dataclasses.replace(daily, reply_to=None)) == daily.from_addr
