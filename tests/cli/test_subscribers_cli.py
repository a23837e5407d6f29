"""Subscriber lists: CSV reading (table-driven), the ``subscribers`` and
``deliveries`` commands, a missing secret, and the web's store adapter."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feedpub.cli import main
from feedpub.store import SqlStore
from feedpub.subscribers import StoreSubscriptions, read_roster
from feedpub.text.lists import split_list
from support.cli_site import CONFIG, SAMPLES

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=ZoneInfo("Asia/Damascus"))


@pytest.mark.parametrize(
    ("csv", "emails", "problems"),
    [
        ("email\na@example.org\n", ["a@example.org"], []),
        ("Email,Name\na@example.org,سامي\n", ["a@example.org"], []),
        ("email\nnot-an-address\nb@example.org\n", ["b@example.org"], ["line 2: "]),
        (
            "email\nA@Example.org\na@example.org\n",
            ["A@Example.org"],
            ["line 3: a@example.org repeats line 2"],
        ),
        ("email\n\n,x\nc@example.org\n", ["c@example.org"], ["line 3: no address"]),
        ("name,tags\nسامي,x\n", [], ["line 1: the header row has no 'email' column"]),
        ("", [], ["line 1: the header row has no 'email' column"]),
        ("\ufeffemail\nd@example.org\n", ["d@example.org"], []),
    ],
    ids=[
        "plain",
        "header-case",
        "bad-address",
        "duplicate-case",
        "empty-address",
        "missing-header",
        "empty-file",
        "bom",
    ],
)
def test_read_roster(csv: str, emails: list[str], problems: list[str]) -> None:
    entries, found = read_roster(csv)
    assert [e.email for e in entries] == emails
    assert len(found) == len(problems)
    for got, wanted in zip(found, problems, strict=True):
        assert got.startswith(wanted), got


def test_lists_split_on_semicolon_or_bar() -> None:
    assert split_list("اقتصاد; طقس|رياضة;;طقس") == ("اقتصاد", "طقس", "رياضة")
    assert split_list("daily,evening") == ("daily", "evening")  # the CLI's --digests a,b
    assert split_list(None) == ()
    (entry,), _ = read_roster('email,digests,tags\na@example.org,daily,"اقتصاد;طقس"\n')
    assert (entry.digests, entry.tags) == (("daily",), ("اقتصاد", "طقس"))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.yaml"
    text = CONFIG.format(pages=SAMPLES / "pages", records=SAMPLES / "records")
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("FEEDPUB_NOW", NOW.isoformat())
    monkeypatch.delenv("FEEDPUB_STORE_URL", raising=False)
    monkeypatch.delenv("FEEDPUB_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return path


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_subscribers_commands(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli(
            config,
            "subscribers",
            "add",
            "Sami@Example.com",
            "--name",
            "سامي",
            "--tags",
            "اقتصاد,طقس",
        )
        == 0
    )
    assert cli(config, "subscribers", "add", "x@example.org", "--digests", "nope") == 2
    assert cli(config, "subscribers", "add", "not-an-address") == 2
    csv = config.parent / "list.csv"
    csv.write_text("email,name\nsami@example.com,x\nbad@\nrana@example.com,رنا\n", encoding="utf-8")
    capsys.readouterr()
    assert cli(config, "subscribers", "import", str(csv)) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "subscribers: 1 added, 1 already stored, 1 refused"
    assert f"{csv}: line 3: " in err
    assert cli(config, "subscribers", "bounce", "rana@example.com") == 0
    assert cli(config, "subscribers", "remove", "ghost@example.com") == 1
    capsys.readouterr()
    assert cli(config, "subscribers", "list") == 0
    assert capsys.readouterr().out.splitlines() == [
        "Sami@Example.com  active",
        "rana@example.com  bounced",
    ]
    assert cli(config, "subscribers", "list", "--json") == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["name"] == "سامي" and first["tags"] == ["اقتصاد", "طقس"]
    assert cli(config, "subscribers", "export") == 0
    assert capsys.readouterr().out.splitlines()[1] == "Sami@Example.com,سامي,,اقتصاد;طقس,active"
    bad = config.parent / "bad.csv"
    bad.write_text("name\nx\n", encoding="utf-8")
    assert cli(config, "subscribers", "import", str(bad)) == 1


def test_missing_secret_fails_the_digest_in_one_line_and_records_nothing(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(config, "subscribers", "add", "sami@example.com") == 0
    capsys.readouterr()
    assert cli(config, "run") == 1
    out, err = capsys.readouterr()
    assert out == ""  # quiet under cron: only the failure is said, on stderr
    assert (config.parent / "public" / "atom.xml").is_file()  # the feeds were still built
    (line,) = err.splitlines()
    assert "FEEDPUB_SECRET" in line and "feedpub_secret" in line
    monkeypatch.setenv("FEEDPUB_SECRET", "a-real-secret-for-this-test-0123")
    assert cli(config, "-v", "run") == 0
    assert "1 delivered" in capsys.readouterr().out
    assert cli(config, "deliveries") == 0
    assert capsys.readouterr().out.splitlines() == [
        "daily@2026-11-29T07:00+03:00: 0 pending, 0 claimed, 1 sent, 0 failed, 0 skipped"
    ]
    assert cli(config, "deliveries", "daily@2026-11-29T07:00+03:00") == 0
    assert cli(config, "deliveries", "daily@2026-11-30T07:00+03:00") == 2
    assert cli(config, "deliveries", "daily") == 2


def test_store_subscriptions_for_the_web(store: SqlStore) -> None:
    subs = StoreSubscriptions(store, ["daily", "evening"])
    assert subs.subscribe_pending("a@example.org", "سامي", ["daily"], NOW)
    assert subs.preferences("a@example.org") is None  # not confirmed yet
    assert subs.confirm("a@example.org", NOW)
    assert not subs.subscribe_pending("a@example.org", "x", ["evening"], NOW)  # confirmed: kept
    assert subs.preferences("a@example.org") == (("daily",), ())
    assert subs.set_preferences("a@example.org", ["daily", "evening"], ["طقس"], NOW)
    assert subs.unsubscribe("a@example.org", "daily", NOW)
    assert subs.preferences("a@example.org") == (("evening",), ("طقس",))
    assert subs.unsubscribe("a@example.org", "evening", NOW)
    assert not subs.unsubscribe("a@example.org", "evening", NOW)
    stored = store.get_subscriber("a@example.org")
    assert stored is not None and stored.status == "unsubscribed"
