"""The digests' web archive: one page per edition under
``archive/<digest>/`` in the public folder, and an index of them.

Written before delivery, so the email's «view in browser» link works when the
mail arrives.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol

from feedpub.config import DigestConfig, EmailConfig
from feedpub.digests.site import Site, edition_date, environment, news_count, several_a_day
from feedpub.model import Article, Edition
from feedpub.output import remove_stale_temp_files, safe_join, write_atomic


class ArchiveReader(Protocol):
    """What the archive index needs: a digest's editions, newest first."""

    def editions(self, digest: str) -> list[Edition]: ...


class ArchivePage(Protocol):
    """An edition's web page (``render.RenderedEdition`` is one)."""

    @property
    def slot(self) -> datetime: ...

    @property
    def archive_path(self) -> str: ...

    @property
    def archive_html(self) -> str: ...

    @property
    def articles(self) -> tuple[Article, ...]: ...


def archive_stem(digest: DigestConfig, slot: datetime, tz: tzinfo) -> str:
    """The archive file name without ".html": the slot's date in the site's
    time zone ``tz``, plus the time when the digest can run several times a
    day."""
    local = slot.astimezone(tz)
    return f"{local:%Y-%m-%d-%H%M}" if several_a_day(digest.schedule) else f"{local:%Y-%m-%d}"


def archive_path(digest: DigestConfig, slot: datetime, tz: tzinfo) -> str:
    return f"archive/{digest.name}/{archive_stem(digest, slot, tz)}.html"


def write_archive(
    reader: ArchiveReader, digest: DigestConfig, page: ArchivePage, site: Site, email: EmailConfig
) -> list[Path]:
    """Write the edition's web page and the digest's archive index (editions
    newest first; only those whose page exists, so the index has no dead
    links). Returns the paths written."""
    output = site.public_dir
    target = safe_join(output, page.archive_path)
    write_atomic(target, page.archive_html.encode("utf-8"))

    slots = {edition.slot: len(edition.article_ids) for edition in reader.editions(digest.name)}
    slots.setdefault(page.slot, len(page.articles))
    entries = []
    for slot in sorted(slots, reverse=True):
        relative = archive_path(digest, slot, site.timezone)
        if not safe_join(output, relative).exists():
            continue
        entries.append(
            {
                "href": f"{site.public_url}/{relative}",
                "date": edition_date(digest, slot, site, email),
                "count": news_count(slots[slot], email),
            }
        )
    index_html = (
        environment()
        .get_template("digests/archive_index.html.j2")
        .render(
            lang=site.language,
            site_title=site.title,
            site_url=site.url,
            style_url=site.style_url,
            digest_title=digest.title or site.title,
            entries=entries,
        )
    )
    index = safe_join(output, f"archive/{digest.name}/index.html")
    write_atomic(index, index_html.encode("utf-8"))
    # The feed build sweeps only its own folders: a digest killed mid-write
    # would otherwise leave its temp file here for good.
    remove_stale_temp_files(index.parent, reference=index)
    return [target, index]
