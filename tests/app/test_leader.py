"""Several ``feedpub serve`` on one PostgreSQL store: one leader runs the
jobs, the others stand by and take over within service.failover_seconds
when it dies; the digest slot is made once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedpub.store import SqlStore
from support.cli_site import NOW, site

__all__ = ["site"]

pytestmark = pytest.mark.postgres
FAILOVER = 3


@pytest.fixture
def pg_url(store_url: str) -> str:
    if not store_url.startswith("postgresql"):
        pytest.skip("leader election across machines is PostgreSQL's")
    return store_url


def serve(config: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FEEDPUB_NOW": NOW, "FEEDPUB_STORE_URL": url}
    env.setdefault("FEEDPUB_SECRET", "leader-test-secret-0123456789")  # the demo list needs one
    return subprocess.Popen(
        [sys.executable, "-m", "feedpub", "--config", str(config), "serve", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: object, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        assert child.stderr is not None
        child.stderr.close()


def test_one_leader_publishes_and_a_standby_takes_over(
    site: Path, pg_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    text = site.read_text(encoding="utf-8")
    site.write_text(
        text + f'service:\n  schedule: "* * * * *"\n  failover_seconds: {FAILOVER}\n',
        encoding="utf-8",
    )
    with SqlStore.open(pg_url) as store:

        def pids(job: str) -> set[int]:
            return {r.pid for r in store.runs(job)}

        first = serve(site, pg_url)
        processes.append(first)
        wait_for(lambda: first.pid in pids("digest daily"), 90)
        second = serve(site, pg_url)
        processes.append(second)
        time.sleep(FAILOVER * 2)  # a standby: it runs nothing
        assert second.poll() is None
        assert second.pid not in pids("ingest") | pids("build") | pids("digest daily")
        assert len(store.editions("daily")) == 1

        first.send_signal(signal.SIGKILL)
        first.wait(10)

        # The take-over is bounded by failover_seconds (plus slack for a
        # loaded 2-core machine); the jobs it then runs are not timed.
        def leads() -> bool:
            holder = store.lock("leader").holder()
            return holder is not None and holder.pid == second.pid

        wait_for(leads, FAILOVER + 15)
        wait_for(lambda: second.pid in pids("digest daily"), 120)
        assert second.pid in pids("ingest")
        assert len(store.editions("daily")) == 1  # the slot was made once
        holder = store.lock("leader").holder()
        assert holder is not None and holder.pid == second.pid

    second.send_signal(signal.SIGTERM)
    assert second.wait(20) == 0
    assert second.stderr is not None
    log = second.stderr.read()
    assert "standby: the leader is" in log
    assert "leader: this process runs the jobs now" in log
