"""Operations: exit codes, the run-wide lock, job runs in the store,
``status``, JSON log lines, catch-up after downtime, secrets from systemd
credentials kept out of the logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedpub.cli import main
from feedpub.store import LockHolder, SqlStore
from support.cli_site import NOW, run, site

__all__ = ["site"]  # the fixture, shared with test_cli

STORE = "var/feedpub.db"


def store_of(config: Path) -> SqlStore:
    return SqlStore.open(f"sqlite:///{config.parent / STORE}")


def test_every_job_is_recorded_and_status_reports_it(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(site, "run") == 0
    capsys.readouterr()
    with store_of(site) as store:
        runs = {r.job: r for r in store.last_runs()}
    assert sorted(runs) == ["build", "digest daily", "ingest"]
    assert runs["ingest"].counts == {"new": 27, "updated": 0, "unchanged": 0, "rejected": 0}
    assert runs["digest daily"].counts["editions"] == 1
    assert all(r.status == "ok" and r.pid == os.getpid() for r in runs.values())

    assert run(site, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert [r["job"] for r in status["runs"]] == ["build", "digest daily", "ingest"]
    assert status["store"]["articles"] == 27
    assert status["subscribers"] == {"pending": 0, "active": 0, "unsubscribed": 0, "bounced": 0}
    assert status["next"]["digest daily"] == "2026-11-30T04:00:00+00:00"
    assert status["next"]["publish"] == "2026-11-29T05:10:00+00:00"
    (daily,) = status["digests"]
    assert daily["last_edition"]["slot"] == "2026-11-29T04:00:00+00:00"
    assert daily["last_edition"]["articles"] == 15
    assert status["locks"] == {"run": None, "leader": None}

    assert run(site, "status") == 0
    text = capsys.readouterr().out
    assert "ingest: ok at 2026-11-29 08:00:00" in text
    assert "digest daily: last edition 2026-11-29 07:00:00 (15 articles" in text


def test_a_failing_digest_does_not_stop_the_build_and_exits_1(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site.parent / "outbox").mkdir()
    (site.parent / "outbox" / "new").write_text("a file where a folder goes", encoding="utf-8")
    assert run(site, "run") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "digest daily failed after" in captured.err
    assert (site.parent / "public" / "atom.xml").is_file()
    with store_of(site) as store:
        runs = {r.job: r for r in store.last_runs()}
        # Recorded before delivery (so two runs never both send it); its
        # deliveries stay pending for the next run.
        assert store.last_edition("daily") is not None
    assert runs["build"].status == "ok"
    assert runs["digest daily"].status == "failed"
    assert runs["digest daily"].error
    (site.parent / "outbox" / "new").unlink()
    assert run(site, "run") == 0
    assert len(list((site.parent / "outbox" / "new").glob("*.eml"))) == 1


def test_a_failing_build_does_not_stop_the_digest_and_exits_1(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site.parent / "public").mkdir()
    (site.parent / "public" / ".feedpub-manifest.json").mkdir()  # the build cannot read it
    assert run(site, "run") == 1
    assert "build failed after" in capsys.readouterr().err
    assert len(list((site.parent / "outbox" / "new").glob("*.eml"))) == 1


def test_a_second_run_exits_3_naming_the_holder(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with store_of(site) as store:
        lock = store.lock("run")
        since = datetime(2026, 11, 29, 4, 59, tzinfo=UTC)
        assert lock.acquire(LockHolder("cron-box", 4242, since))
        try:
            assert run(site, "run") == 3
            err = capsys.readouterr().err
            assert "another feedpub run holds the run lock" in err
            assert "cron-box pid 4242 since 2026-11-29 04:59:00Z" in err
            started = time.monotonic()
            assert run(site, "run", "--wait", "0.5") == 3
            assert time.monotonic() - started >= 0.5
            assert not (site.parent / "public").exists()  # nothing ran
            # --wait: runs as soon as the holder lets go
            threading.Timer(0.5, lock.release).start()
            assert run(site, "run", "--wait", "30") == 0
        finally:
            lock.close()
    assert (site.parent / "public" / "atom.xml").is_file()


def test_bad_usage_exits_2(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(site, "run", "--wait", "soon")
    assert caught.value.code == 2
    assert "--wait" in capsys.readouterr().err


def test_json_log_lines_one_per_job(site: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(site), "--log-format", "json", "run"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "FEEDPUB_NOW": NOW},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [r["job"] for r in records] == ["ingest", "build", "digest daily"]
    for record in records:
        assert set(record) == {"time", "level", "logger", "message", "job", "duration", "counts"}
        assert record["level"] == "info" and record["logger"] == "feedpub.jobs"
        assert record["duration"] >= 0
    assert records[0]["counts"]["new"] == 27
    assert records[2]["message"].startswith("digest daily: edition 2026-11-29T07:00:00+03:00")


# --- catch-up after downtime ----------------------------------------------------------


HOURLY = """\
  - name: hourly
    schedule: "0 * * * *"
    subject: "ساعة"
    from: "news@news.example.org"
    first_lookback: 30d
    only_if_new: false
delivery:"""


def with_hourly(config: Path) -> Path:
    text = config.read_text(encoding="utf-8").replace("delivery:", HOURLY, 1)
    config.write_text(text, encoding="utf-8")
    return config


def test_run_after_a_days_downtime_makes_one_edition_for_the_latest_slot(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_hourly(site)
    assert run(site, "run") == 0
    monkeypatch.setenv("FEEDPUB_NOW", "2026-11-30T09:30:00+03:00")  # a day and a half later
    assert run(site, "run") == 0
    with store_of(site) as store:
        hourly = store.editions("hourly")
        daily = store.editions("daily")
    assert [e.slot.isoformat() for e in hourly] == [
        "2026-11-30T06:00:00+00:00",
        "2026-11-29T05:00:00+00:00",
    ]
    # nothing new since yesterday's edition (only_if_new): no second one
    assert [e.slot.isoformat() for e in daily] == ["2026-11-29T04:00:00+00:00"]


def test_serve_after_a_days_downtime_makes_one_edition_per_digest(site: Path) -> None:
    """The scheduler sees every hourly slot of the day missed and coalesces
    them into one run, which makes the latest slot's edition only."""
    from feedpub import service
    from feedpub.app import make_publisher
    from feedpub.app.reports import ScheduledJob
    from feedpub.config import load_config

    cfg = load_config(with_hourly(site))
    later = datetime.fromisoformat("2026-11-30T09:30:00+03:00")
    ran: list[str] = []
    done = threading.Event()
    with make_publisher(cfg, now=later) as publisher:
        jobs = []
        for job in publisher.service_jobs(clock=lambda: later):

            def counted(job: ScheduledJob = job) -> None:
                job.run()
                ran.append(job.name)
                if len(ran) == 3:
                    done.set()

            jobs.append(ScheduledJob(job.name, job.schedule, counted))
        # The service was last up a day ago: its next runs were due then.
        day_ago = datetime.now(UTC) - timedelta(days=1)
        scheduler = service.build_service(
            jobs, cfg.site.timezone, first_run=day_ago, background=True
        )
        scheduler.start()
        try:
            assert done.wait(60)
            time.sleep(0.5)  # a second run of a job would show here
        finally:
            scheduler.shutdown(wait=True)
    assert sorted(ran) == ["digest-daily", "digest-hourly", "publish"]
    with store_of(site) as store:
        assert [e.slot.isoformat() for e in store.editions("hourly")] == [
            "2026-11-30T06:00:00+00:00"
        ]
        assert len(store.editions("daily")) == 1


# --- secrets ------------------------------------------------------------------------------


def test_store_url_from_a_systemd_credential(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedpub.config import load_config

    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "feedpub_store_url").write_text("sqlite:////srv/other.db\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert load_config(site).store.url == "sqlite:////srv/other.db"
    monkeypatch.setenv("FEEDPUB_STORE_URL", "sqlite:////srv/env.db")  # the environment first
    assert load_config(site).store.url == "sqlite:////srv/env.db"


def test_the_store_password_never_shows(site: Path, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secret_url = "postgresql+psycopg://feedpub:s3cr3t-pw@127.0.0.1:9/feedpub?connect_timeout=2"
    (credentials / "feedpub_store_url").write_text(secret_url, encoding="utf-8")
    env = {**os.environ, "FEEDPUB_NOW": NOW, "CREDENTIALS_DIRECTORY": str(credentials)}
    env.pop("FEEDPUB_STORE_URL", None)
    for args in (["-v", "run"], ["-v", "--log-format", "json", "run"], ["status"]):
        done = subprocess.run(
            [sys.executable, "-m", "feedpub", "--config", str(site), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert "127.0.0.1:9" in done.stderr  # the error names the store...
        assert "s3cr3t-pw" not in done.stderr + done.stdout  # ...without its password


def test_read_secret_prefers_the_environment(tmp_path: Path) -> None:
    from feedpub.config.secrets import SMTP_PASSWORD, secret

    (tmp_path / "feedpub_smtp_password").write_bytes(b"from-file\r\n")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert secret(SMTP_PASSWORD, environ) == "from-file"
    assert secret(SMTP_PASSWORD, {**environ, "FEEDPUB_SMTP_PASSWORD": "from-env"}) == "from-env"
    assert secret(SMTP_PASSWORD, {}) is None


def test_main_is_importable_without_running() -> None:
    assert callable(main)
