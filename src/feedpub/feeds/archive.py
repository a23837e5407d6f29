"""RFC 5005 archived feeds (https://www.rfc-editor.org/rfc/rfc5005): the main
feed's older entries in pages under ``feed-archive/<n>/``, 1 = oldest.

Pages chain with ``prev-archive`` / ``next-archive`` and point at the
``current`` feed; each is marked ``fh:archive`` (by the Atom and RSS
writers), in the formats whose writer is ``archivable`` (Atom and RSS; JSON
Feed has no archive mechanism).
A page's articles are fixed once it is full, so its fingerprint is its
position (and whether a newer page exists) under the page size that cut it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from feedpub.feeds import writers
from feedpub.feeds.entry import EMPTY_FEED_UPDATED, FeedHead, HistoryLink
from feedpub.feeds.site import SiteValues
from feedpub.feeds.urls import ARCHIVE_DIR, document_urls, feed_paths
from feedpub.model import Article


def page_directory(index: int) -> str:
    return f"{ARCHIVE_DIR}/{index}"


def archive_paths(index: int, formats: Iterable[str]) -> dict[str, str]:
    """Format name -> relative path of archive page ``index``, for the
    configured ``formats`` that have archives."""
    archived = [f for f in formats if writers.get(f).archivable]
    return feed_paths(page_directory(index), archived)


def newest_page_link(site: SiteValues, pages: int) -> tuple[HistoryLink, ...]:
    """The main feed's link to the newest archive page (none without pages)."""
    if not pages:
        return ()
    return (HistoryLink("prev-archive", document_urls(site, page_directory(pages))),)


def page_head(site: SiteValues, index: int, total: int, articles: Sequence[Article]) -> FeedHead:
    history = [HistoryLink("current", document_urls(site, ""))]
    if index > 1:
        history.append(HistoryLink("prev-archive", document_urls(site, page_directory(index - 1))))
    if index < total:
        history.append(HistoryLink("next-archive", document_urls(site, page_directory(index + 1))))
    directory = page_directory(index)
    description = site.description or site.title
    return FeedHead(
        directory=directory,
        atom_id=document_urls(site, "")["atom"],  # the main feed's: one logical feed
        title=f"{site.title} ({index})",
        subtitle=description,
        description=description,
        language=site.language,
        author=site.title,
        home=site.home,
        updated=max((a.updated for a in articles), default=EMPTY_FEED_UPDATED),
        urls=document_urls(site, directory),
        hub=None,  # archives never change: nothing to subscribe to
        history=tuple(history),
        archived=True,
    )


def fingerprint_parts(page_size: int, index: int, total: int) -> list[str]:
    return [ARCHIVE_DIR, str(page_size), str(index), str(index < total)]
