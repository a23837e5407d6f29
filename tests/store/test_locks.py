"""The named cross-process locks (run-wide and leader) on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from conftest import PG_CONNINFO
from feedpub.store import LockHolder, SqlStore

SINCE = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


def test_a_held_lock_is_refused_and_names_its_holder(store_url: str) -> None:
    with SqlStore.open(store_url) as store:
        first, second = store.lock("run"), store.lock("run")
        try:
            assert first.acquire(LockHolder("alpha", 11, SINCE))
            assert first.healthy()
            assert not second.acquire(LockHolder("beta", 22, SINCE))
            assert not second.healthy()
            assert second.holder() == LockHolder("alpha", 11, SINCE)
            other = store.lock("leader")  # another name: another lock
            assert other.acquire(LockHolder("beta", 22, SINCE))
            other.close()
            first.release()
            assert second.holder() is None
            assert second.acquire(LockHolder("beta", 22, SINCE))
        finally:
            first.close()
            second.close()


def test_a_killed_holder_frees_the_lock(store_url: str) -> None:
    holder = textwrap.dedent(
        f"""
        import sys, time
        from datetime import UTC, datetime
        from feedpub.store import LockHolder, SqlStore
        store = SqlStore.open({store_url!r})
        lock = store.lock("leader", timeout=2)
        assert lock.acquire(LockHolder("gone", 1, datetime.now(UTC)))
        print("held", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with SqlStore.open(store_url) as store:
            lock = store.lock("leader", timeout=2)
            try:
                assert not lock.acquire(LockHolder("me", os.getpid(), SINCE))
                found = lock.holder()
                assert found is not None and found.host == "gone"
                os.kill(child.pid, signal.SIGKILL)
                child.wait(10)
                assert lock.acquire(LockHolder("me", os.getpid(), SINCE), wait=10)
                assert lock.holder() == LockHolder("me", os.getpid(), SINCE)
            finally:
                lock.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        assert child.stdout is not None
        child.stdout.close()


def test_a_lock_whose_connection_or_file_is_gone_is_no_longer_healthy(store_url: str) -> None:
    """The run lock is checked before each batch (issue 22, finding 7): a
    PostgreSQL lock whose connection died, or a lock file someone removed
    (so a second run can lock a new file of that name), reads as lost."""
    with SqlStore.open(store_url) as store:
        ours, theirs = store.lock("run", timeout=2), store.lock("run", timeout=2)
        try:
            holder = f"lost-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            assert ours.acquire(LockHolder(holder, 4343, SINCE))
            assert ours.healthy()
            if store_url.startswith("sqlite"):
                lock_file = Path(store_url.removeprefix("sqlite:///") + ".run.lock")
                lock_file.unlink()
            else:
                with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
                    killed = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name LIKE %s",
                        (f"feedpub 4343 % {holder}",),
                    ).fetchall()
                assert killed == [(True,)]
            assert not ours.healthy()
            assert theirs.acquire(LockHolder("beta", 22, SINCE), wait=5)
        finally:
            ours.close()
            theirs.close()
