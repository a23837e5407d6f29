"""Consent is never overridden: the operators' commands (``add``, ``remove``,
``unsubscribe``, ``import``) and the seed file against the suppression list;
the seed file read once per change; CSV rows refused by file, line and value;
exported cells a spreadsheet never runs. Roster tests run on SQLite and
PostgreSQL (the ``store`` fixture); command tests through ``feedpub`` itself."""

from __future__ import annotations

import csv
import io
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feedpub.store import SqlStore
from feedpub.subscribers import ConsentRefused, Roster, StoreSubscriptions, write_roster
from support.cli_site import run as cli
from support.cli_site import site as config

__all__ = ["config"]  # the command-line tests' site, as a fixture

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=ZoneInfo("Asia/Damascus"))  # the site's clock
LATER = NOW + timedelta(days=1)
DIGESTS = ("daily", "weekly")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- add, remove, unsubscribe over the store ------------------------------------------


def end_by_web(store: SqlStore, address: str) -> None:
    subs = StoreSubscriptions(store, DIGESTS)
    for digest in DIGESTS:
        subs.unsubscribe(address, digest, NOW)


def end_by_bounce(store: SqlStore, address: str) -> None:
    Roster(store, DIGESTS).bounce(address, NOW)


def end_by_operator(store: SqlStore, address: str) -> None:
    Roster(store, DIGESTS).unsubscribe(address, NOW, "asked by phone")


@pytest.mark.parametrize(
    ("end", "said"),
    [
        (end_by_web, "unsubscribed on 2026-11-29 (web): unsubscribed from daily on the web"),
        (end_by_bounce, "bounced on 2026-11-29 (operator): marked bounced by an operator"),
        (end_by_operator, "unsubscribed on 2026-11-29 (operator): unsubscribed by an operator"),
    ],
    ids=["web-unsubscribe", "bounce", "operator-unsubscribe"],
)
def test_add_refuses_an_ended_subscription_saying_why_and_changes_nothing(
    store: SqlStore, end: object, said: str
) -> None:
    roster = Roster(store, DIGESTS)
    roster.add("huda@example.org", NOW, name="هدى", digests=["daily"], tags=["طقس"])
    end(store, "huda@example.org")  # type: ignore[operator]
    before = store.get_subscriber("huda@example.org")

    with pytest.raises(ConsentRefused) as refused:
        roster.add("Huda@Example.org", LATER, name="x")

    assert str(refused.value).startswith(f"Huda@Example.org: not subscribed: {said}")
    assert str(refused.value).endswith("give --resubscribe --reason TEXT")
    assert "\n" not in str(refused.value)
    assert store.get_subscriber("huda@example.org") == before


def test_add_with_a_reason_subscribes_again_and_records_why(store: SqlStore) -> None:
    roster = Roster(store, DIGESTS)
    roster.add("huda@example.org", NOW, name="هدى", tags=["طقس"])
    end_by_web(store, "huda@example.org")

    outcome = roster.add("huda@example.org", LATER, resubscribe_reason="asked in writing")

    assert outcome.lifted is not None and outcome.lifted.kind == "unsubscribed"
    assert (outcome.subscriber.status, outcome.subscriber.name) == ("active", "هدى")
    (found,) = store.suppressions()
    assert (found.lifted, found.lifted_reason) == (
        LATER,
        "subscribed again by an operator: asked in writing",
    )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ({"name": "سامي"}, ("سامي", ("daily",), ("طقس",))),
        ({"digests": ["weekly"]}, ("هدى", ("weekly",), ("طقس",))),
        ({"tags": []}, ("هدى", ("daily",), ())),
        ({}, ("هدى", ("daily",), ("طقس",))),
    ],
    ids=["name-only", "digests-only", "tags-cleared", "nothing"],
)
def test_add_changes_only_the_fields_it_is_given(
    store: SqlStore, given: dict[str, object], kept: tuple[object, ...]
) -> None:
    roster = Roster(store, DIGESTS)
    roster.add("huda@example.org", NOW, name="هدى", digests=["daily"], tags=["طقس"])

    outcome = roster.add("huda@example.org", LATER, **given)  # type: ignore[arg-type]

    assert not outcome.new
    assert (outcome.subscriber.name, outcome.subscriber.digests, outcome.subscriber.tags) == kept


def test_an_operator_may_add_back_an_address_they_removed(store: SqlStore) -> None:
    roster = Roster(store, DIGESTS)
    roster.add("a@example.org", NOW)
    roster.remove("a@example.org", NOW)

    outcome = roster.add("a@example.org", LATER)

    assert outcome.new and outcome.lifted is not None and outcome.lifted.kind == "removed"
    assert store.suppressed_among(["a@example.org"]) == set()


def test_unsubscribing_an_unknown_address_keeps_it_from_every_import(
    store: SqlStore, tmp_path: Path
) -> None:
    roster = Roster(store, DIGESTS)
    assert roster.unsubscribe("stranger@example.org", NOW, "asked by letter") is None
    again = roster.unsubscribe("STRANGER@example.org", LATER)
    assert again is not None and again.reason == "unsubscribed by an operator: asked by letter"

    report = roster.import_csv(write(tmp_path / "l.csv", "email\nstranger@example.org\n"), NOW)

    assert (report.added, len(report.suppressed)) == (0, 1)
    assert store.get_subscriber("stranger@example.org") is None


# --- import and the seed file ------------------------------------------------------------


def test_an_import_adds_no_suppressed_address_and_says_which_by_line(
    store: SqlStore, tmp_path: Path
) -> None:
    roster = Roster(store, DIGESTS)
    for address in ("left@example.org", "dead@example.org", "gone@example.org"):
        roster.add(address, NOW)
    end_by_web(store, "left@example.org")
    roster.bounce("dead@example.org", NOW)
    roster.remove("gone@example.org", NOW)
    roster.remove("left@example.org", NOW)  # unsubscribed, then removed: still unsubscribed
    path = write(
        tmp_path / "list.csv",
        "email\nLEFT@example.org\nnew@example.org\ndead@example.org\ngone@example.org\n",
    )

    report = roster.import_csv(path, LATER)

    assert report.summary() == "subscribers: 1 added, 1 already stored, 2 suppressed, 0 refused"
    assert report.lines(report.suppressed) == [
        f"{path}: line 2: 'LEFT@example.org': not added: unsubscribed on 2026-11-29 (web): "
        "unsubscribed from weekly on the web",
        f"{path}: line 5: 'gone@example.org': not added: removed on 2026-11-29 (operator): "
        "removed by an operator",
    ]
    assert store.get_subscriber("left@example.org") is None
    dead = store.get_subscriber("dead@example.org")
    assert dead is not None and dead.status == "bounced"  # stored: left exactly as it was


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("email\nnot-an-address\n", ["line 2: 'not-an-address': An email address must have"]),
        (
            "email,digests\na@example.org,daily\nb@example.org,monthly\n",
            ["line 3: 'b@example.org': unknown digest 'monthly' (known: daily, weekly)"],
        ),
        (
            'email,name\nc@example.org,"long\n\nname"\nbad@\n',
            ["line 5: 'bad@': There must be something after the @-sign."],
        ),
        ("email\n\u202ebad@\n", ["line 2: '\\u202ebad@': "]),
    ],
    ids=["bad-address", "unknown-digest", "after-a-multiline-cell", "control-shown-escaped"],
)
def test_a_refused_row_is_named_by_file_line_and_value(
    store: SqlStore, tmp_path: Path, text: str, refused: list[str]
) -> None:
    path = write(tmp_path / "list.csv", text)

    report = Roster(store, DIGESTS).import_csv(path, NOW)

    lines = report.lines(report.problems)
    assert len(lines) == len(refused)
    for line, wanted in zip(lines, refused, strict=True):
        assert line.startswith(f"{path}: {wanted}"), line


def bad_seed(tmp_path: Path, good: int, bad: int) -> Path:
    rows = [f"reader{n}@example.org" for n in range(good)] + [f"bad{n}@" for n in range(bad)]
    return write(tmp_path / "seed.csv", "email\n" + "\n".join(rows) + "\n")


def test_a_seed_file_is_applied_and_its_bad_rows_warned_about_once(
    store: SqlStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = bad_seed(tmp_path, good=20, bad=12)
    roster = Roster(store, DIGESTS)
    caplog.set_level(logging.WARNING, "feedpub.subscribers")

    first = roster.seed(path, NOW)

    assert first is not None and (first.added, len(first.problems)) == (20, 12)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (
        f"subscribers.seed {path}: 12 rows refused (the first 5 follow); "
        "the file is read again when it changes"
    )
    assert messages[1:] == [
        f"subscribers.seed {path}: line {22 + n}: 'bad{n}@': "
        "There must be something after the @-sign."
        for n in range(5)
    ]
    caplog.clear()

    assert roster.seed(path, LATER) is None  # unchanged: not read again
    os.utime(path, ns=(1, 1))  # touched, same bytes: still the same file
    assert roster.seed(path, LATER) is None
    assert roster.seed(path, LATER) is None  # and the new stat was remembered
    assert caplog.records == []


def test_a_changed_seed_file_is_applied_again_without_undoing_a_removal(
    store: SqlStore, tmp_path: Path
) -> None:
    roster = Roster(store, DIGESTS)
    path = write(tmp_path / "seed.csv", "email\na@example.org\nb@example.org\n")
    roster.seed(path, NOW)
    roster.remove("a@example.org", NOW)

    write(path, "email\na@example.org\nb@example.org\nc@example.org\n")
    report = roster.seed(path, LATER)

    assert report is not None and (report.added, report.existing) == (1, 1)
    assert [s.email for s in store.subscribers()] == ["b@example.org", "c@example.org"]


def test_a_seed_file_is_read_again_when_the_digests_change(store: SqlStore, tmp_path: Path) -> None:
    path = write(tmp_path / "seed.csv", "email,digests\na@example.org,evening\n")
    first = Roster(store, DIGESTS).seed(path, NOW)
    assert first is not None and first.added == 0 and len(first.problems) == 1

    report = Roster(store, (*DIGESTS, "evening")).seed(path, LATER)

    assert report is not None and report.added == 1


# --- export ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("سامي = كاتب", "سامي = كاتب"),
        ("'quoted", "'quoted"),
    ],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return", "inner-equals", "quote"],
)
def test_an_exported_cell_never_starts_a_formula(name: str, cell: str) -> None:
    exported = write_roster([("a@example.org", name, ["daily"], [name], "active")])

    (row,) = list(csv.DictReader(io.StringIO(exported, newline="")))

    assert (row["name"], row["tags"]) == (cell, cell)


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://evil.example","x")', "+1", "-2+3", "@SUM(1+1)", "'quoted", "سامي"],
)
def test_an_export_imports_back_unchanged(store: SqlStore, tmp_path: Path, name: str) -> None:
    tags = ["=1+1", "@x", "اقتصاد"]
    store.add_subscriber("a@example.org", NOW, name=name, tags=tags, status="active")
    exported = Roster(store, DIGESTS).export()

    with SqlStore.open(f"sqlite:///{tmp_path / 'other.db'}") as other:
        Roster(other, DIGESTS).import_csv(write(tmp_path / "e.csv", exported), NOW)
        back = other.get_subscriber("a@example.org")

    assert back is not None and (back.name, back.tags) == (name, tuple(tags))


def test_an_address_that_starts_like_a_formula_is_neutralised_too(store: SqlStore) -> None:
    store.add_subscriber("-x@example.org", NOW, status="active")
    assert Roster(store, DIGESTS).export().splitlines()[1].startswith("'-x@example.org,")


# --- the commands --------------------------------------------------------------------------


def test_add_on_an_unsubscribed_address_is_one_line_and_exit_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config, "subscribers", "add", "huda@example.org", "--name", "هدى") == 0
    assert cli(config, "subscribers", "unsubscribe", "huda@example.org") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "huda@example.org: unsubscribed"

    assert cli(config, "subscribers", "add", "huda@example.org") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "feedpub: huda@example.org: not subscribed: unsubscribed on 2026-11-29 (operator): "
        "unsubscribed by an operator; to subscribe it again give --resubscribe --reason TEXT\n"
    )
    assert cli(config, "subscribers", "add", "huda@example.org", "--resubscribe") == 2
    assert cli(config, "subscribers", "add", "huda@example.org", "--reason", "x") == 2
    capsys.readouterr()

    assert (
        cli(
            config,
            "subscribers",
            "add",
            "huda@example.org",
            "--resubscribe",
            "--reason",
            "by letter",
        )
        == 0
    )
    assert capsys.readouterr().out == (
        "huda@example.org: updated; subscribed again (was unsubscribed on 2026-11-29 "
        "(operator): unsubscribed by an operator)\n"
    )
    assert cli(config, "subscribers", "list", "--json") == 0
    assert '"name": "هدى"' in capsys.readouterr().out  # the name survived it all
    assert cli(config, "subscribers", "suppressed") == 0
    assert capsys.readouterr().out == (
        "huda@example.org  unsubscribed on 2026-11-29 (operator): unsubscribed by an operator; "
        "lifted on 2026-11-29: subscribed again by an operator: by letter\n"
    )


def test_a_removed_seed_address_stays_removed_through_the_next_runs(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", "a-real-secret-for-this-test-0123")
    seed = write(config.parent / "seed.csv", "email\nsami@example.com\nrana@example.com\nbad@\n")
    config.write_text(
        config.read_text(encoding="utf-8") + f"subscribers:\n  seed: {seed}\n", encoding="utf-8"
    )
    assert cli(config, "run") == 0
    err = capsys.readouterr().err
    assert f"subscribers.seed {seed}: 1 rows refused" in err
    assert f"{seed}: line 4: 'bad@': " in err
    assert cli(config, "subscribers", "remove", "rana@example.com") == 0

    write(seed, seed.read_text(encoding="utf-8") + "omar@example.com\n")
    capsys.readouterr()
    assert cli(config, "run") == 0
    assert "bad@" in capsys.readouterr().err  # the file changed: said once more
    assert cli(config, "run") == 0
    assert "seed" not in capsys.readouterr().err  # unchanged: nothing said

    assert cli(config, "subscribers", "list") == 0
    assert capsys.readouterr().out.splitlines() == [
        "sami@example.com  active",
        "omar@example.com  active",
    ]
