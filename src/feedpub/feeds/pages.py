"""The page feedpub publishes for each article without a URL of its own
(scraped pages carry none), so feed entries and digest items link to the
article rather than to nothing or to the home page.

One page per such article in the store, not only per article in a feed:
digests (and their web archive) link to articles that left the feeds long
ago. The page lives at ``links.page_path(article.id)``, is rendered from
``templates/feeds/article.html.j2`` and is fingerprinted like a feed: from
the article's (id, content hash, updated) and the topic pages its tags link to,
read in two light queries (``page_versions``), so an incremental build loads
and renders only the articles whose page changed.

With a cache (the store's ``EntryCache``, which keeps feed entries too) a
page is rendered once per fingerprint: a build that finds a page's bytes
under its fingerprint (a full rebuild into an empty folder, a second output
folder) neither loads its article nor renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from markupsafe import Markup

from feedpub import links, templating
from feedpub.feeds.incremental import RenderedTree, TreeCollector, batched, digest
from feedpub.feeds.site import SiteValues
from feedpub.feeds.urls import STYLE_PATH, clean, feed_paths
from feedpub.model import Article, Tag
from feedpub.text import rtl
from feedpub.text.hijri import with_hijri

if TYPE_CHECKING:
    # The store keeps pages beside the feed entries, by slot (``cache_slot``).
    from feedpub.feeds.entries import EntryCache

TEMPLATE = "feeds/article.html.j2"
# Bump when the page's markup changes in code (template edits are hashed).
PAGE_VERSION = "1"
_DATE = "EEEE، d MMMM y، h:mm a"
# Articles loaded per query while rendering: bounds memory on a first build.
LOAD_CHUNK = 500

# (id, content_hash, updated, tag keys): what the store's page_versions gives.
PageVersion = tuple[str, str, datetime, tuple[str, ...]]


def cache_slot(path: str) -> str:
    """The cache slot of the page at ``path``: a digest like an entry's slot,
    which never collides with one (entry slots digest a tuple that starts
    with a feed format)."""
    return digest(["page", path])


def template_text() -> str:
    """The template's source: part of every page's fingerprint."""
    return (templating.templates_dir() / TEMPLATE).read_text(encoding="utf-8")


def tag_pages(site: SiteValues, tags: Iterable[Tag], built: Container[str]) -> dict[str, str]:
    """Tag key -> the page of that tag (feedpub's topic page, or the site's
    own from ``feeds.tag_page_url``), for the tags whose feed is in this
    build's tree (``built``): a page never links a tag that has no feed
    (skipped, or under ``feeds.min_items``)."""
    if not site.formats:
        return {}
    fmt = site.formats[0]
    found = {}
    for tag in tags:
        path = feed_paths(f"tag/{tag.slug}", [fmt])[fmt]
        if path in built:
            found[tag.key] = site.topic_url(tag.slug)
    return found


def site_key(site: SiteValues) -> str:
    """Every site value a page prints, and the template."""
    s = site.site
    parts = [PAGE_VERSION, s.title, s.url, s.language, str(s.timezone), s.locale, s.digits]
    parts += [s.month_names, str(s.hijri), str(s.hijri_adjust)]
    return digest([*parts, site.feeds.url, site.feeds.tag_page_url, *site.formats, template_text()])


def fingerprint(key: str, version: PageVersion, tag_links: Mapping[str, str]) -> str:
    article_id, content_hash, updated, tag_keys = version
    linked = [f"{k}={tag_links.get(k, '')}" for k in tag_keys]
    return digest([key, article_id, content_hash, updated.isoformat(), *linked])


def render(site: SiteValues, article: Article, tag_links: Mapping[str, str]) -> bytes:
    """The article's page: valid HTML5, right to left for an Arabic site."""
    title = " ".join(clean(article.title).split()) or article.id
    content = clean(article.content).strip()
    if not content and article.summary.strip():
        content = str(Markup("<p>{}</p>").format(clean(article.summary)))
    published = article.published.astimezone(site.site.timezone)
    text = templating.render(
        TEMPLATE,
        lang=site.language,
        dir=site.direction,
        site_title=site.title,
        home=site.home,
        url=links.page_url(site.feeds.url, article.id),
        style_url=site.url(STYLE_PATH),
        title=title,
        published_iso=published.isoformat(),
        published=published_text(site, published),
        author=" ".join(clean(article.author or "").split()),
        # Sanitised at ingest (text.sanitize): safe to print as HTML.
        content=Markup(content),
        tags=[{"name": clean(tag.name), "url": tag_links.get(tag.key, "")} for tag in article.tags],
    )
    return text.encode("utf-8")


def published_text(site: SiteValues, published: datetime) -> str:
    """The publication date as the digests write it: the site's month names
    (``both``: «كانون الأول/ديسمبر»), with ``hijri`` the Hijri date of that
    day beside it."""
    s = site.site
    written = rtl.arabic_datetime(published, _DATE, s.locale, s.digits, s.month_names)
    if s.hijri:
        written = with_hijri(written, published.date(), s.digits, s.hijri_adjust)
    return written


def render_pages(
    site: SiteValues,
    versions: Sequence[PageVersion],
    tags: Iterable[Tag],
    built: Container[str],
    load: Callable[[Sequence[str]], list[Article]],
    previous: Mapping[str, str],
    cache: EntryCache | None = None,
) -> RenderedTree:
    """A page for every version (every article without a URL), rendering
    only those whose fingerprint differs from ``previous`` and that the
    ``cache`` does not hold under it; ``load(ids)`` reads the articles to
    render (``articles_by_ids``), in chunks."""
    key = site_key(site)
    tag_links = tag_pages(site, tags, built)
    out = TreeCollector(previous)
    stale: list[_Stale] = []
    for version in versions:
        path = links.page_path(version[0])
        page_print = fingerprint(key, version, tag_links)
        if not out.keep([path], page_print):
            stale.append((path, version, page_print))
    # Rendered when written, LOAD_CHUNK pages per batch in path order (the
    # order output.sync_tree writes in): one chunk of articles in memory.
    stale.sort()
    chunks = [stale[start : start + LOAD_CHUNK] for start in range(0, len(stale), LOAD_CHUNK)]
    out.put(
        batched(
            [
                ([path for path, _, _ in chunk], _pages_of(site, chunk, load, tag_links, cache))
                for chunk in chunks
            ]
        )
    )
    return out.tree()


# (path, the version the fingerprint was made from, that fingerprint)
_Stale = tuple[str, PageVersion, str]


def _pages_of(
    site: SiteValues,
    chunk: Sequence[_Stale],
    load: Callable[[Sequence[str]], list[Article]],
    tag_links: Mapping[str, str],
    cache: EntryCache | None,
) -> Callable[[], dict[str, bytes | None]]:
    def render_chunk() -> dict[str, bytes | None]:
        found: dict[str, bytes | None] = {}
        slots = {path: cache_slot(path) for path, _, _ in chunk}
        held = cache.cached_entries(list(slots.values())) if cache is not None else {}
        todo: list[_Stale] = []
        for path, version, page_print in chunk:
            hit = held.get(slots[path])
            if hit is not None and hit[0] == page_print:
                found[path] = hit[1]
            else:
                todo.append((path, version, page_print))
        loaded = {a.id: a for a in load([version[0] for _, version, _ in todo])} if todo else {}
        fresh: list[tuple[str, str, bytes]] = []
        for path, version, page_print in todo:
            article = loaded.get(version[0])
            # Deleted or given a URL since page_versions: no page after all.
            if article is None or links.has_own_url(article):
                found[path] = None
                continue
            data = found[path] = render(site, article, tag_links)
            # Kept only under the version it was selected at: one written
            # since is printed in this build but fingerprinted by the next.
            if (article.content_hash, article.updated) == (version[1], version[2]):
                fresh.append((slots[path], page_print, data))
        if cache is not None and fresh:
            cache.keep_entries(fresh)
        return found

    return render_chunk
