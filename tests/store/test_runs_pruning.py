"""The ``runs`` table is pruned as each run is recorded: runs that finished
longer than ``store.keep_runs_days`` before it go, the latest run of each
job always stays (``feedpub status`` reports it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedpub.model import JobRun
from feedpub.store import SqlStore
from support.cli_site import run, site

__all__ = ["site"]

T0 = datetime(2026, 1, 1, 6, tzinfo=UTC)


def _run(job: str, days: int) -> JobRun:
    at = T0 + timedelta(days=days)
    return JobRun(job=job, started=at, finished=at + timedelta(seconds=5), status="ok")


@pytest.mark.parametrize(
    ("keep", "left"),
    [
        # Pruning off: everything stays.
        (None, [("ingest", 0), ("ingest", 50), ("build", 0), ("ingest", 100)]),
        # Older than 90 days before the newest goes, but not the only build.
        (timedelta(days=90), [("ingest", 50), ("build", 0), ("ingest", 100)]),
        # A short keep leaves the latest of each job.
        (timedelta(days=1), [("build", 0), ("ingest", 100)]),
    ],
)
def test_recording_a_run_prunes_old_runs_but_keeps_each_jobs_latest(
    store: SqlStore, keep: timedelta | None, left: list[tuple[str, int]]
) -> None:
    for job, days in [("ingest", 0), ("ingest", 50), ("build", 0)]:
        store.add_run(_run(job, days))
    store.add_run(_run("ingest", 100), keep=keep)
    found = sorted((r.job, (r.started - T0).days) for r in store.runs())
    assert found == sorted(left)


@pytest.mark.parametrize(
    ("keep_line", "runs_left"),
    [("", 1), ("  keep_runs_days: 365\n", 2)],
)
def test_a_run_months_later_drops_the_runs_older_than_store_keep_runs_days(
    site: Path, monkeypatch: pytest.MonkeyPatch, keep_line: str, runs_left: int
) -> None:
    text = site.read_text(encoding="utf-8")
    if keep_line:
        assert "\nstore:\n" in text
        text = text.replace("\nstore:\n", "\nstore:\n" + keep_line, 1)
        site.write_text(text, encoding="utf-8")
    monkeypatch.setenv("FEEDPUB_NOW", "2026-01-01T08:00:00+00:00")
    assert run(site, "run") == 0
    monkeypatch.setenv("FEEDPUB_NOW", "2026-06-01T08:00:00+00:00")  # 151 days on
    assert run(site, "run") == 0
    with SqlStore.open(f"sqlite:///{site.parent / 'var/feedpub.db'}") as store:
        jobs = [r.job for r in store.runs()]
    assert sorted(set(jobs)) == ["build", "digest daily", "ingest", "signups"]
    assert all(jobs.count(job) == runs_left for job in set(jobs))
