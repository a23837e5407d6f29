"""Named locks over the store, held by one process at a time across every
machine sharing the store: the run-wide lock of ``feedpub run`` and the
leader lock of ``feedpub serve``.

SQLite (one machine): an ``flock`` on a file beside the database,
``<database>.<name>.lock``, which also holds the holder as JSON.
PostgreSQL: a session advisory lock (per lock name and schema) on a
dedicated connection, outside the pool. The holder rides in that
connection's ``application_name``, so a second process can name it from
``pg_stat_activity``. The lock lasts as long as the session: a holder that
dies (kill -9, power, network) loses it as soon as the server notices, which
TCP keepalives on both ends bound by ``timeout``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from feedpub.store.engine import StoreError
from feedpub.store.interface import LockHolder, StoreLock

_POLL_SECONDS = 0.2
_APP_PREFIX = "feedpub "


def _deadline_loop(wait: float) -> Iterator[None]:
    """Yield once, then again every poll interval until ``wait`` seconds passed."""
    end = time.monotonic() + max(wait, 0.0)
    while True:
        yield
        if time.monotonic() >= end:
            return
        time.sleep(min(_POLL_SECONDS, max(end - time.monotonic(), 0.0)))


class FileLock:
    """The SQLite form: ``flock`` on a file, holder as JSON inside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, holder: LockHolder, *, wait: float = 0.0) -> bool:
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in _deadline_loop(wait):
            handle = self.path.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                handle.close()
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise StoreError(f"lock {self.path}: {exc.strerror}") from exc
                continue
            handle.seek(0)
            handle.truncate()
            record = {"host": holder.host, "pid": holder.pid, "since": holder.since.isoformat()}
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            self._handle = handle
            return True
        return False

    def holder(self) -> LockHolder | None:
        if self._handle is None and not self._locked_elsewhere():
            return None  # free (a holder killed with -9 leaves its JSON behind)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "null")
            if not isinstance(data, dict):
                return None
            return LockHolder(str(data["host"]), int(data["pid"]), _aware(data["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _locked_elsewhere(self) -> bool:
        try:
            with self.path.open("r", encoding="utf-8") as probe:
                try:
                    fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    return True
                fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
                return False
        except FileNotFoundError:
            return False
        except OSError:
            return True

    def healthy(self) -> bool:
        """Held, and the file locked is still the one at ``path``: a lock
        file deleted (a tidy-up of the folder) or replaced lets another
        process lock a new file of that name, so ours no longer excludes it."""
        if self._handle is None:
            return False
        try:
            held, there = os.fstat(self._handle.fileno()), os.stat(self.path)
            if (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino):
                return True
        except OSError:
            pass
        self.release()
        return False

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    def close(self) -> None:
        self.release()


class NoLock:
    """An in-memory SQLite store lives in one process: nothing to exclude."""

    def __init__(self) -> None:
        self._held: LockHolder | None = None

    def acquire(self, holder: LockHolder, *, wait: float = 0.0) -> bool:
        self._held = self._held or holder
        return True

    def holder(self) -> LockHolder | None:
        return self._held

    def healthy(self) -> bool:
        return self._held is not None

    def release(self) -> None:
        self._held = None

    def close(self) -> None:
        self.release()


_KEY = "hashtext('feedpub-lock:' || :name || ':' || current_schema())::bigint"


class AdvisoryLock:
    """The PostgreSQL form: a session advisory lock on a dedicated connection."""

    def __init__(self, url: URL, where: str, name: str, timeout: float) -> None:
        self.name = name
        self._where = where
        self._timeout = max(timeout, 2.0)
        # Keepalives on the client: a dead server or network fails the
        # health check within about ``timeout`` instead of hanging it.
        seconds = max(int(self._timeout / 3), 1)
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "keepalives": 1,
                "keepalives_idle": seconds,
                "keepalives_interval": seconds,
                "keepalives_count": 2,
                "tcp_user_timeout": int(self._timeout * 1000),
                "connect_timeout": max(int(self._timeout), 2),
            },
        )
        self._conn: Connection | None = None

    def _fail(self, doing: str, exc: SQLAlchemyError) -> StoreError:
        detail = getattr(exc, "orig", None) or exc
        return StoreError(f"store {self._where}: lock {self.name}: {doing}: {detail}")

    def acquire(self, holder: LockHolder, *, wait: float = 0.0) -> bool:
        if self._conn is not None:
            return True
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            raise self._fail("cannot connect", exc) from exc
        try:
            tag = f"{_APP_PREFIX}{holder.pid} {int(holder.since.timestamp())} {holder.host}"
            conn.execute(text("SELECT set_config('application_name', :v, false)"), {"v": tag[:63]})
            # Keepalives on the server: it ends the session of a holder that
            # vanished (and so frees the lock) within about ``timeout``.
            seconds = str(max(int(self._timeout / 3), 1))
            for setting in ("tcp_keepalives_idle", "tcp_keepalives_interval"):
                conn.execute(text("SELECT set_config(:k, :v, false)"), {"k": setting, "v": seconds})
            conn.execute(text("SELECT set_config('tcp_keepalives_count', '2', false)"))
            for _ in _deadline_loop(wait):
                taken = conn.execute(
                    text(f"SELECT pg_try_advisory_lock({_KEY})"), {"name": self.name}
                ).scalar()
                if taken:
                    self._conn = conn
                    return True
        except SQLAlchemyError as exc:
            conn.close()
            raise self._fail("cannot take", exc) from exc
        conn.close()
        return False

    def holder(self) -> LockHolder | None:
        query = text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            f"AND ((l.classid::bigint << 32) | l.objid::bigint) = {_KEY}"
        )
        try:
            with self._engine.connect() as conn:
                found = conn.execute(query, {"name": self.name}).scalar()
        except SQLAlchemyError as exc:
            raise self._fail("cannot read the holder", exc) from exc
        if not isinstance(found, str) or not found.startswith(_APP_PREFIX):
            return None
        try:
            pid, since, host = found.removeprefix(_APP_PREFIX).split(" ", 2)
            return LockHolder(host, int(pid), datetime.fromtimestamp(int(since), UTC))
        except ValueError:
            return None

    def healthy(self) -> bool:
        if self._conn is None:
            return False
        check = text(
            "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
            "AND locktype = 'advisory' AND granted"
        )
        try:
            if self._conn.execute(check).scalar():
                return True
        except SQLAlchemyError:
            pass
        self._drop()
        return False

    def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(SQLAlchemyError):
            self._conn.execute(text(f"SELECT pg_advisory_unlock({_KEY})"), {"name": self.name})
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def close(self) -> None:
        self.release()
        self._engine.dispose()


def _aware(value: object) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("naive")
    return parsed


def lock_for(engine: Engine, where: str, name: str, *, timeout: float) -> StoreLock:
    """The lock called ``name`` over the store behind ``engine``."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return NoLock()
        return FileLock(Path(f"{database}.{name}.lock"))
    return AdvisoryLock(url, where, name, timeout)
