"""Job runs: one row per finished job (ingest, build, each digest, the
service's publish), for ``feedpub status``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Connection

from feedpub.model import JobRun
from feedpub.store.engine import StoreBase
from feedpub.store.schema import t_runs

# The error text kept per run: one line is the point, a traceback is not.
MAX_ERROR_CHARS = 2000


class RunsMixin(StoreBase):
    def add_run(self, run: JobRun, keep: timedelta | None = None) -> int:
        """Record a finished job run; its id. With ``keep``, runs that
        finished longer than that before this one are deleted in the same
        transaction, except the latest of each job (``feedpub status``)."""
        values = {
            "job": run.job,
            "started": run.started,
            "finished": run.finished,
            "status": run.status,
            "counts": json.dumps(dict(run.counts), sort_keys=True),
            "error": None if run.error is None else run.error[:MAX_ERROR_CHARS],
            "host": run.host,
            "pid": run.pid,
        }
        with self._guard("cannot record job run"), self._engine.begin() as conn:
            key = conn.execute(t_runs.insert().values(**values)).inserted_primary_key
            if keep is not None:
                _prune(conn, run.finished - keep)
        assert key is not None
        return int(key[0])

    def last_runs(self) -> list[JobRun]:
        """The latest run of every job that ever ran, by job name."""
        latest = (
            select(t_runs.c.job, func.max(t_runs.c.id).label("id"))
            .group_by(t_runs.c.job)
            .subquery()
        )
        query = select(t_runs).join(latest, t_runs.c.id == latest.c.id).order_by(t_runs.c.job)
        return self._runs(query)

    def runs(self, job: str | None = None, limit: int | None = None) -> list[JobRun]:
        """Recorded runs, latest first (by start, then id); of one job if given."""
        query = select(t_runs).order_by(t_runs.c.started.desc(), t_runs.c.id.desc())
        if job is not None:
            query = query.where(t_runs.c.job == job)
        if limit is not None:
            query = query.limit(limit)
        return self._runs(query)

    def _runs(self, query: Select[Any]) -> list[JobRun]:
        with self._guard("cannot read job runs"), self._engine.connect() as conn:
            return [
                JobRun(
                    job=r.job,
                    started=r.started,
                    finished=r.finished,
                    status="failed" if r.status == "failed" else "ok",
                    counts=json.loads(r.counts),
                    error=r.error,
                    host=r.host,
                    pid=r.pid,
                )
                for r in conn.execute(query)
            ]


def _prune(conn: Connection, before: datetime) -> None:
    latest = select(func.max(t_runs.c.id)).group_by(t_runs.c.job).scalar_subquery()
    conn.execute(
        t_runs.delete().where(and_(t_runs.c.finished < before, t_runs.c.id.not_in(latest)))
    )
