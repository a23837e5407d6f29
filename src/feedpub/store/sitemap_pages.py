"""What a sitemap source knows of each page its sitemaps list: the lastmod
they give, and what it last fetched (``ingest.sitemap_source``). Rows are
written in the transaction that stores the batch they cover
(``SourcesMixin.write_batch``), so a page is never marked fetched unless
its article (or reject) is stored."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from feedpub.model import SitemapPage
from feedpub.store.engine import IN_CHUNK, StoreBase, chunks, insert_rows
from feedpub.store.schema import t_sitemap_pages


class SitemapPagesMixin(StoreBase):
    def sitemap_pages(self, source: str) -> dict[str, SitemapPage]:
        """Every page ``source`` knows, by URL."""
        t = t_sitemap_pages
        with self._guard("cannot read sitemap pages"), self._engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.source == source)).all()
        return {
            r.url: SitemapPage(
                r.url,
                r.lastmod,
                r.fetched,
                r.fetched_lastmod,
                r.etag,
                r.last_modified,
                r.article_id,
            )
            for r in rows
        }


def put_sitemap_pages(conn: Connection, source: str, pages: Sequence[SitemapPage]) -> None:
    """Replace the rows of ``pages`` (the last of each URL wins)."""
    t = t_sitemap_pages
    latest = {page.url: page for page in pages}
    for chunk in chunks(list(latest), IN_CHUNK):
        conn.execute(t.delete().where(t.c.source == source, t.c.url.in_(chunk)))
    if latest:
        insert_rows(
            conn,
            t,
            [
                {
                    "source": source,
                    "url": p.url,
                    "lastmod": p.lastmod,
                    "fetched": p.fetched,
                    "fetched_lastmod": p.fetched_lastmod,
                    "etag": p.etag,
                    "last_modified": p.last_modified,
                    "article_id": p.article_id,
                }
                for p in latest.values()
            ],
        )
