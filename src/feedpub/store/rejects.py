"""Rejected input: what could not be used, where, and why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from feedpub.model import Reject
from feedpub.store.engine import IN_CHUNK, StoreBase, chunks
from feedpub.store.schema import t_rejects


class RejectsMixin(StoreBase):
    def add_reject(self, reject: Reject) -> bool:
        """Record a reject; True when it is new. The same problem seen again
        (same source, location and reason: a bad file re-read by every cron
        run) only moves its ``seen`` time, so the table does not grow per run."""
        same = (
            (t_rejects.c.source == reject.source)
            & (t_rejects.c.reason == reject.reason)
            & (
                t_rejects.c.location.is_(None)
                if reject.location is None
                else t_rejects.c.location == reject.location
            )
        )
        with self._guard("cannot write reject"), self._writing() as conn:
            moved = conn.execute(t_rejects.update().where(same).values(seen=reject.seen))
            if moved.rowcount:
                return False
            conn.execute(
                t_rejects.insert().values(
                    source=reject.source,
                    reason=reject.reason,
                    seen=reject.seen,
                    location=reject.location,
                )
            )
            return True

    def replace_rejects(self, source: str, rejects: Sequence[Reject]) -> list[bool]:
        """Make ``rejects`` the recorded problems of ``source`` (a file just
        read, or a source path just listed), in one transaction: its earlier
        rejects not among them are deleted (the file was fixed, or the
        problem moved); one seen again only moves its ``seen`` time, as in
        ``add_reject``. Per reject, True when it is new."""
        for reject in rejects:
            if reject.source != source:
                raise ValueError(f"reject of {reject.source!r} given for {source!r}")
        with self._guard("cannot write rejects"), self._writing() as conn:
            return self._replace_rejects_many(conn, [(source, rejects)])[0]

    def _replace_rejects_many(
        self, conn: Connection, files: Sequence[tuple[str, Sequence[Reject]]]
    ) -> list[list[bool]]:
        """``replace_rejects`` for several sources in the caller's
        transaction, with one SELECT per ``IN_CHUNK`` sources (a batch of
        pages is hundreds of sources, nearly all without rejects). Each
        source at most once."""
        stored: dict[str, dict[tuple[str | None, str], list[int]]] = {}
        for chunk in chunks(list(dict.fromkeys(source for source, _ in files)), IN_CHUNK):
            rows = conn.execute(
                select(t_rejects.c.id, t_rejects.c.source, t_rejects.c.location, t_rejects.c.reason)
                .where(t_rejects.c.source.in_(chunk))
                .order_by(t_rejects.c.id)
            ).all()
            for row in rows:
                stored.setdefault(row.source, {}).setdefault((row.location, row.reason), []).append(
                    row.id
                )
        stale: list[int] = []
        seen: list[tuple[list[int], datetime]] = []
        fresh: list[dict[str, object]] = []
        news: list[list[bool]] = []
        for source, rejects in files:
            before = stored.get(source, {})
            wanted = {(r.location, r.reason): r for r in rejects}
            stale += [i for what, row_ids in before.items() if what not in wanted for i in row_ids]
            for what, reject in wanted.items():
                if what in before:
                    seen.append((before[what], reject.seen))
                else:
                    fresh.append(
                        {
                            "source": source,
                            "reason": reject.reason,
                            "seen": reject.seen,
                            "location": reject.location,
                        }
                    )
            news.append([(r.location, r.reason) not in before for r in rejects])
        for stale_ids in chunks(stale, IN_CHUNK):
            conn.execute(t_rejects.delete().where(t_rejects.c.id.in_(stale_ids)))
        for row_ids, when in seen:
            conn.execute(t_rejects.update().where(t_rejects.c.id.in_(row_ids)).values(seen=when))
        if fresh:
            conn.execute(t_rejects.insert(), fresh)
        return news

    def rejects(self) -> list[Reject]:
        """Every reject, newest first (ties: most recently added first)."""
        query = select(t_rejects).order_by(t_rejects.c.seen.desc(), t_rejects.c.id.desc())
        with self._guard("cannot read rejects"), self._engine.connect() as conn:
            return [
                Reject(source=r.source, reason=r.reason, seen=r.seen, location=r.location)
                for r in conn.execute(query)
            ]
