"""The command line as an operator and cron use it: the whole run on the
embedded default, summary lines, listings, exit codes, quiet without a TTY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import feedparser
import pytest

from feedpub.cli import main
from support.cli_site import NOW, SAMPLES, run


def test_run_ingests_builds_feeds_and_makes_the_digest(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(site, "-v", "run") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ingest: 27 new, 0 updated, 0 unchanged, 0 rejected"
    assert lines[1].startswith("build: ") and " 0 removed" in lines[1]
    assert lines[2].startswith("digest daily: edition 2026-11-29T07:00:00+03:00 with 15 articles")
    assert lines[2].endswith("1 delivered")

    public = site.parent / "public"
    main_feed = feedparser.parse((public / "atom.xml").read_bytes())
    assert main_feed.bozo == 0
    assert len(main_feed.entries) == 20
    assert (public / "tag" / "بوتين" / "rss.xml").is_file()
    assert (public / "archive" / "daily" / "2026-11-29.html").is_file()

    (eml,) = (site.parent / "outbox" / "new").glob("*.eml")
    email = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert email["Subject"].startswith("أخبار الشام")
    assert email.get_content_type() == "multipart/alternative"


def test_second_run_changes_nothing(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(site, "run") == 0
    public = site.parent / "public"
    before = {p: p.stat().st_mtime_ns for p in public.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert run(site, "-v", "run") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ingest: 0 new, 0 updated, 27 unchanged, 0 rejected"
    assert lines[1].startswith("build: 0 written")
    assert lines[2] == "digest daily: nothing due"
    after = {p: p.stat().st_mtime_ns for p in public.rglob("*") if p.is_file()}
    assert after == before
    assert len(list((site.parent / "outbox" / "new").glob("*.eml"))) == 1


def test_edited_page_updates_one_article(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(site, "ingest") == 0
    page = sorted((site.parent / "pages").iterdir())[0]
    page.write_text(
        page.read_text(encoding="utf-8").replace("السورية", "السورية المحدثة", 1),
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(site, "ingest") == 0
    assert capsys.readouterr().out == "ingest: 0 new, 1 updated, 26 unchanged, 0 rejected\n"


def test_articles_json_has_every_field_newest_first(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(site, "ingest")
    capsys.readouterr()
    assert run(site, "articles", "--json") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 27
    assert set(records[0]) >= {
        "id",
        "title",
        "summary",
        "content",
        "author",
        "published",
        "updated",
        "url",
        "image",
        "tags",
        "source",
        "content_hash",
        "first_seen",
    }
    published = [r["published"] for r in records]
    assert published == sorted(published, reverse=True)


def test_bad_input_is_reported_recorded_and_the_rest_ingests(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = site.parent / "pages"
    (pages / "empty.txt").write_text("   \n", encoding="utf-8")
    (pages / "latin1.txt").write_bytes("عنوان".encode("cp1256"))
    assert run(site, "ingest") == 0
    captured = capsys.readouterr()
    assert captured.out == "ingest: 27 new, 0 updated, 0 unchanged, 2 rejected\n"
    assert "empty.txt" in captured.err and "latin1.txt" in captured.err
    assert run(site, "rejects", "--json") == 0
    rejects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(Path(r["source"]).name for r in rejects) == ["empty.txt", "latin1.txt"]
    assert all(r["reason"] for r in rejects)


def test_digest_preview_records_and_sends_nothing(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(site, "ingest")
    out = site.parent / "preview.html"
    assert run(site, "digest", "daily", "--preview", "--out", str(out)) == 0
    assert '<html lang="ar" dir="rtl"' in out.read_text(encoding="utf-8")
    assert "\u200f" in capsys.readouterr().out
    assert not (site.parent / "outbox").exists()
    assert run(site, "digest", "daily") == 0
    assert "with 15 articles" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["digest", "weekly"], "no digest named 'weekly'"),
        (["digest", "daily", "--out", "x.html"], "--out goes with --preview"),
    ],
)
def test_usage_errors_exit_2(
    site: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run(site, *args) == 2
    assert message in capsys.readouterr().err


def test_unknown_command_exits_2(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(site, "frobnicate")
    assert caught.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bad_config_exits_2_naming_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('site:\n  title: x\n  url: "https://x.org"\n  colour: red\n', "utf-8")
    assert main(["--config", str(config), "ingest"]) == 2
    assert f"{config}:4: site.colour: unknown key" in capsys.readouterr().err


def test_unreachable_store_exits_1(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDPUB_STORE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert run(site, "ingest") == 1
    err = capsys.readouterr().err
    assert err.startswith("feedpub: error:") and "127.0.0.1:9" in err


@pytest.mark.parametrize(
    "command", ["run", "ingest", "articles", "rejects", "build", "digest", "status", "serve"]
)
def test_every_command_has_help(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: feedpub")


def test_cron_run_prints_nothing_when_all_went_well(site: Path) -> None:
    """No TTY (as under cron): no progress bar, no summary, nothing on stderr."""
    env = {**os.environ, "FEEDPUB_NOW": NOW}
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(site), "run"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == ""


def test_service_jobs_publish_and_make_each_digest(site: Path) -> None:
    from datetime import datetime

    from feedpub import service
    from feedpub.app import make_publisher
    from feedpub.config import load_config

    cfg = load_config(site)
    started = datetime.fromisoformat(NOW)
    publisher = make_publisher(cfg, now=started)
    jobs = publisher.service_jobs(clock=lambda: started)
    assert [(j.name, j.schedule) for j in jobs] == [
        ("publish", "*/10 * * * *"),
        ("digest-daily", "0 7 * * *"),
    ]
    scheduled = service.build_service(jobs, cfg.site.timezone, first_run=started)
    pending = {job.id: job for job in scheduled.get_jobs()}
    assert sorted(pending) == ["digest-daily", "publish"]
    # every job runs once at start, so a slot missed while down is made up
    assert all(job.next_run_time == started for job in pending.values())

    jobs[0].run()
    assert (site.parent / "public" / "atom.xml").is_file()
    assert not (site.parent / "outbox").exists()
    jobs[1].run()
    assert len(list((site.parent / "outbox" / "new").glob("*.eml"))) == 1


def test_a_failing_service_job_logs_one_line_and_does_not_raise(
    site: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import datetime

    from feedpub.app import make_publisher
    from feedpub.config import load_config

    # The feeds' folder cannot be made (a file took its place after the
    # config was loaded, which refuses it up front): the build fails, the job says so.
    cfg = load_config(site)
    (site.parent / "public").write_text("a file where the folder goes", encoding="utf-8")
    now = datetime.fromisoformat(NOW)
    with make_publisher(cfg, now=now) as publisher:
        publish = publisher.service_jobs(clock=lambda: now)[0]
        publish.run()
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage().startswith("build failed after ")


# --- listings and interruptions -------------------------------------------------------


def test_listings_of_an_empty_store_are_empty(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["articles"], ["articles", "--json"], ["rejects"], ["rejects", "--json"]):
        assert run(site, *args) == 0
        assert capsys.readouterr() == ("", "")


def test_article_listing_shows_site_time(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A page dated 26 November (Damascus midnight) is listed on the 26th,
    not at 21:00 UTC the day before; --json keeps UTC with its offset."""
    run(site, "ingest")
    capsys.readouterr()
    run(site, "articles")
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("2026-11-26 00:00  2026-11-26-book-fair") for line in lines)
    run(site, "articles", "--json")
    [fair] = [
        record
        for record in map(json.loads, capsys.readouterr().out.splitlines())
        if record["id"] == "2026-11-26-book-fair-damascus"
    ]
    assert fair["published"] == "2026-11-25T21:00:00+00:00"


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_limit_must_be_a_positive_number(
    site: Path, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        run(site, "articles", "--limit", limit)
    assert caught.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_ctrl_c_during_ingest_exits_130_and_the_next_run_completes_it(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedpub import ingest

    read_path = ingest.read_path
    calls = []

    def interrupted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return read_path(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "read_path", interrupted)
    try:
        code: object = run(site, "ingest")
    except KeyboardInterrupt:
        code = "KeyboardInterrupt escaped"
    assert code == 130
    assert capsys.readouterr().err.endswith("feedpub: interrupted\n")

    monkeypatch.setattr(ingest, "read_path", read_path)
    assert run(site, "ingest") == 0
    assert capsys.readouterr().out == "ingest: 22 new, 0 updated, 5 unchanged, 0 rejected\n"


def test_listing_into_a_closed_pipe_is_quiet(site: Path, tmp_path: Path) -> None:
    """``feedpub articles | head -1``: more output than a pipe holds, and the
    reader leaves after one line."""
    records = tmp_path / "many"
    records.mkdir()
    (records / "many.jsonl").write_text(
        "".join(
            json.dumps({"id": f"m{i}", "title": f"خبر رقم {i}", "published": "2026-11-01"}) + "\n"
            for i in range(3000)
        ),
        encoding="utf-8",
    )
    config = site.read_text(encoding="utf-8").replace(
        f"  - path: {SAMPLES / 'records'}", f"  - path: {records}"
    )
    site.write_text(config, encoding="utf-8")
    assert run(site, "ingest") == 0
    env = {**os.environ, "FEEDPUB_NOW": NOW}
    with subprocess.Popen(
        [sys.executable, "-m", "feedpub", "--config", str(site), "articles"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as listing:
        assert listing.stdout is not None and listing.stderr is not None
        assert listing.stdout.readline()
        listing.stdout.close()
        err = listing.stderr.read()
    assert (listing.returncode, err) == (0, b"")


def test_help_loads_none_of_the_heavy_libraries() -> None:
    # --help (and a usage error) answer before the stages are imported.
    probe = (
        "import sys\n"
        "from feedpub.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('sqlalchemy', 'premailer', 'apscheduler', 'babel', 'feedpub.app')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


_BUILD_IN_A_FRESH_PROCESS = (
    "import sys\n"
    "from feedpub.cli import main\n"
    "code = main(['--config', sys.argv[1], 'build'])\n"
    "print('sqlalchemy' in sys.modules, code)\n"
)


def build_in_a_fresh_process(config: Path) -> tuple[str, bool]:
    """``feedpub build`` in a new interpreter: its summary line, and whether
    it imported SQLAlchemy (opened the store the usual way)."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILD_IN_A_FRESH_PROCESS, str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    summary, flags = done.stdout.strip().splitlines()[-2:]
    imported, code = flags.split()
    assert code == "0", done.stderr
    return summary, imported == "True"


@pytest.mark.parametrize(
    ("change", "opens_the_store"),
    [
        ("nothing", False),
        ("an edited page, ingested", True),
        ("a feed file deleted", True),
        ("the config", True),
    ],
)
def test_a_no_op_build_reads_one_row_without_opening_the_store(
    site: Path, change: str, opens_the_store: bool
) -> None:
    assert run(site, "ingest") == 0 and run(site, "build") == 0
    public = site.parent / "public"
    before = {p: p.read_bytes() for p in public.rglob("*.xml")}
    if change == "an edited page, ingested":
        page = sorted((site.parent / "pages").iterdir())[0]
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("السورية", "السورية المحدثة", 1), encoding="utf-8")
        assert run(site, "ingest") == 0
    elif change == "a feed file deleted":
        (public / "rss.xml").unlink()
    elif change == "the config":
        text = site.read_text(encoding="utf-8")
        site.write_text(text.replace("  output: public\n", "  output: public\n  items: 5\n"))
    summary, opened = build_in_a_fresh_process(site)
    assert opened == opens_the_store
    if change == "nothing":
        assert summary.startswith("build: 0 written,") and summary.endswith(" 0 removed")
        assert {p: p.read_bytes() for p in public.rglob("*.xml")} == before
    else:
        assert not summary.startswith("build: 0 written,")
    if change == "a feed file deleted":
        assert (public / "rss.xml").read_bytes() == before[public / "rss.xml"]
    # Whatever that build did, the next one finds nothing changed, from one row.
    again, opened = build_in_a_fresh_process(site)
    assert again.startswith("build: 0 written,") and again.endswith(" 0 removed")
    assert not opened
