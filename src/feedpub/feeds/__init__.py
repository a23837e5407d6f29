"""Every file under ``feeds.output``: Atom and RSS (feedgen 0.9.0, the only
importer of feedgen), JSON Feed (``jsonfeed``), OPML and the HTML index.

One small writer per format, Django-feedgenerator style; they share two narrow
hooks: ``_Prepared`` (one article turned into ready-to-print values once per
build, whatever the number of feeds holding it) and ``_Head`` (one document's
feed-level values). Nothing here reads the clock: feed ``updated`` is the
newest entry's, so two builds of the same plan are byte-identical.

Incremental builds: each file gets a fingerprint of everything it is rendered
from (article ids, content hashes, dates, tags, the config it uses, the
renderer version). A file whose fingerprint equals the previous build's is
not rendered at all (``None`` in ``RenderedTree.files``: keep the file).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedgen.version
from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseExtension
from feedgen.ext.dc import DcEntryExtension
from feedgen.feed import FeedGenerator
from lxml import etree
from lxml import html as lxml_html

from feedpub import templating
from feedpub.config import Config
from feedpub.feeds import jsonfeed
from feedpub.model import ArchivePage, Article, FeedPlan, FeedSpec
from feedpub.text.uri import iri_to_uri, percent_encode

# Bump when the output of any writer changes: every fingerprint changes with it.
RENDER_VERSION = "2"

ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
JSON_TYPE = jsonfeed.MEDIA_TYPE


@dataclass(frozen=True)
class FeedFormat:
    name: str  # as in feeds.formats
    filename: str
    media_type: str
    label: str  # shown to people (OPML, index.html)


FORMATS: dict[str, FeedFormat] = {
    "atom": FeedFormat("atom", "atom.xml", ATOM_TYPE, "Atom"),
    "rss": FeedFormat("rss", "rss.xml", RSS_TYPE, "RSS"),
    "json": FeedFormat("json", "feed.json", JSON_TYPE, "JSON Feed"),
}
OPML_PATH = "feeds.opml"
INDEX_PATH = "index.html"
INDEX_TEMPLATE = "index.html.j2"
# Not "archive/": the digest's web archive lives under archive/<digest-name>/.
ARCHIVE_DIR = "feed-archive"
ARCHIVE_FORMATS = ("atom", "rss")  # RFC 5005 covers Atom and RSS; JSON Feed has no archives

# The date of a tag: URI (RFC 4151) is part of the id, so it is a constant:
# derived from the clock, entry ids would change every year.
TAG_URI_DATE = "2026"
# updated of a feed with no entries: fixed, so empty feeds rebuild identically.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)

ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005

_RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"})
# Characters XML 1.0 forbids; lxml refuses them, readers choke on them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A fixed table, not ``mimetypes``: that one reads /etc/mime.types, which
# differs between machines and would make builds differ.
_IMAGE_TYPES = {
    ".avif": "image/avif",
    ".gif": "image/gif",
    ".jpe": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


@dataclass(frozen=True)
class RenderedTree:
    """One build's output. ``files`` maps each relative path the build
    produces to its bytes, or to None when its fingerprint matches the
    previous build's (the existing file is kept, not re-rendered).
    ``fingerprints`` has an entry for every path; store them in the manifest
    and pass them back as ``previous`` next time."""

    files: dict[str, bytes | None] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def rendered(self) -> tuple[str, ...]:
        return tuple(path for path, data in self.files.items() if data is not None)

    def merged(self, other: RenderedTree) -> RenderedTree:
        """Both trees as one (e.g. the feeds and the archive pages), for one
        ``publish.sync_tree`` call: files missing from it are removed."""
        return RenderedTree(
            files={**self.files, **other.files},
            fingerprints={**self.fingerprints, **other.fingerprints},
            notes=self.notes + other.notes,
        )


# --- URLs ---------------------------------------------------------------------


@functools.cache
def _base_uri(iri: str) -> str:
    return iri_to_uri(iri)


def public_url(cfg: Config, path: str) -> str:
    """The public URL of ``path`` (relative to feeds.output); feeds.url itself
    may be an IRI (an Arabic folder, an international host)."""
    return f"{_base_uri(cfg.feeds.url)}/{percent_encode(path, '/')}"


def feed_paths(directory: str, formats: Iterable[str]) -> dict[str, str]:
    """Format name -> relative path of that feed document in ``directory``."""
    prefix = f"{directory}/" if directory else ""
    return {fmt: prefix + FORMATS[fmt].filename for fmt in formats}


def feed_urls(cfg: Config, paths: Iterable[str]) -> list[str]:
    """Public URLs of the live feed documents among ``paths`` (e.g. a
    BuildReport's ``written``): what a WebSub hub should be told about.
    Archive pages never change, OPML and index.html are not feeds."""
    names = {f.filename for f in FORMATS.values()}
    return [
        public_url(cfg, path)
        for path in sorted(paths)
        if path.rsplit("/", 1)[-1] in names and not path.startswith(ARCHIVE_DIR + "/")
    ]


def _plain_directory(path: str) -> bool:
    # Each segment must be one ordinary file name: nothing a tag says may
    # climb out of (or hide in) the output folder. sync_tree checks again.
    return path == "" or all(
        segment
        and not segment.startswith(".")
        and "\\" not in segment
        and not _XML_ILLEGAL.search(segment)
        for segment in path.split("/")
    )


# --- per build: site values and the article cache ------------------------------


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


@dataclass(frozen=True)
class _Site:
    cfg: Config
    title: str
    home: str
    language: str
    direction: str
    description: str
    host: str
    hub: str | None
    full_content: bool
    formats: tuple[str, ...]
    key: str  # every config value the feed documents depend on

    @classmethod
    def of(cls, cfg: Config) -> _Site:
        site, feeds = cfg.site, cfg.feeds
        language = site.language
        primary = language.split("-")[0].lower()
        hub = iri_to_uri(feeds.websub_hub) if feeds.websub_hub else None
        values = (
            RENDER_VERSION,
            feedgen.version.version_str,
            site.title,
            site.url,
            language,
            site.description,
            feeds.url,
            hub or "",
            str(feeds.full_content),
        )
        return cls(
            cfg=cfg,
            title=_clean(site.title),
            home=iri_to_uri(site.url) + "/",
            language=language,
            direction="rtl" if primary in _RTL_LANGUAGES else "ltr",
            description=_clean(site.description),
            host=urllib.parse.urlsplit(iri_to_uri(site.url)).hostname or site.domain,
            hub=hub,
            full_content=feeds.full_content,
            formats=tuple(dict.fromkeys(f for f in feeds.formats if f in FORMATS)),
            key="\x1f".join(values),
        )

    def wrap(self, fragment: str) -> str:
        # Neither RSS nor Atom can say "right to left"; readers that ignore
        # the feed language still honour the HTML attributes.
        return f'<div dir="{self.direction}" lang="{html.escape(self.language)}">{fragment}</div>'


_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"


class _MemoEntry(FeedEntry):  # type: ignore[misc]
    """A FeedEntry that builds its Atom and RSS elements once per build; each
    feed holding the article gets a copy (lxml moves appended elements).
    ``atom_only_content``: the content is there for Atom alone (RFC 4287
    wants content when there is no alternate link); RSS keeps description."""

    def __init__(self) -> None:
        super().__init__()
        self._atom_element: Any = None
        self._rss_element: Any = None
        self.atom_only_content = False

    def atom_entry(self, extensions: bool = True) -> Any:
        if self._atom_element is None:
            self._atom_element = super().atom_entry(extensions)
        return copy.deepcopy(self._atom_element)

    def rss_entry(self, extensions: bool = True) -> Any:
        if self._rss_element is None:
            self._rss_element = super().rss_entry(extensions)
            if self.atom_only_content:
                for element in self._rss_element.findall(_CONTENT_ENCODED):
                    self._rss_element.remove(element)
        return copy.deepcopy(self._rss_element)


@dataclass(frozen=True)
class _Prepared:
    """One article, ready for every writer."""

    article: Article
    entry: _MemoEntry
    item: jsonfeed.JsonItem


def _article_key(article: Article) -> str:
    """Everything about an article that its entry depends on, cheaply: the
    content hash stands for summary and content when the store provides it."""
    tags = "\x1e".join(f"{t.slug}\x1d{t.name}" for t in article.tags)
    parts = [
        article.id,
        article.content_hash,
        article.published.isoformat(),
        article.updated.isoformat(),
        article.title,
        article.url or "",
        article.image or "",
        article.author or "",
        tags,
    ]
    if not article.content_hash:
        parts += [article.summary, article.content]
    return "\x1f".join(parts)


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


class _EntryCache:
    """Articles prepared once per build. Within one build an article id with
    one content hash and ``updated`` is one article (the plan is a snapshot),
    so that triple is the key; it is cheaper than the full ``_article_key``."""

    def __init__(self, site: _Site) -> None:
        self.site = site
        self._prepared: dict[tuple[str, str, datetime], _Prepared] = {}
        self._keys: dict[tuple[str, str, datetime], str] = {}

    def get(self, article: Article) -> _Prepared:
        ident = (article.id, article.content_hash, article.updated)
        prepared = self._prepared.get(ident)
        if prepared is None:
            prepared = self._prepared[ident] = _prepare(article, self.site)
        return prepared

    def key(self, article: Article) -> str:
        ident = (article.id, article.content_hash, article.updated)
        key = self._keys.get(ident)
        if key is None:
            key = self._keys[ident] = _article_key(article)
        return key


_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Any scheme, "mailto:" included: such a reference is not relative.
_ANY_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# href and src as the sanitiser (nh3) writes them: always double-quoted.
_URL_ATTRIBUTE = re.compile(r'(\s(?:href|src)=")([^"]*)(")', re.IGNORECASE)


def _absolute(site: _Site, url: str) -> str:
    url = _clean(url).strip()
    if not _HAS_SCHEME.match(url):  # urljoin is slow; most stored URLs are absolute
        url = urllib.parse.urljoin(site.home, url)
    return iri_to_uri(url)


def _resolve_links(fragment: str, base: str) -> str:
    """``fragment`` with relative href/src made absolute against ``base`` (the
    article's URL). Left relative, a reader resolves them against the feed's
    own URL: feeds.url/tag/<slug>/, not the article's page."""

    def resolve(match: re.Match[str]) -> str:
        value = html.unescape(match.group(2)).strip()
        if _ANY_SCHEME.match(value):
            return match.group(0)
        absolute = urllib.parse.urljoin(base, value)
        return match.group(1) + html.escape(absolute) + match.group(3)

    return _URL_ATTRIBUTE.sub(resolve, fragment)


def _image_type(url: str) -> str:
    path = urllib.parse.urlsplit(url).path.lower()
    dot = path.rfind(".")
    return (
        _IMAGE_TYPES.get(path[dot:], "application/octet-stream")
        if dot >= 0
        else ("application/octet-stream")
    )


def _text_of(fragment: str) -> str:
    if not fragment.strip():
        return ""
    try:
        text: str = lxml_html.fragment_fromstring(fragment, create_parent="div").text_content()
    except (etree.ParserError, ValueError):
        return ""
    return " ".join(text.split())


def _prepare(article: Article, site: _Site) -> _Prepared:
    # No url, no link: pointing every such entry at the home page would make
    # them look like one story told many times, and the home page is not the
    # article (RSS item link and JSON Feed url are optional; Atom gets content).
    link = _absolute(site, article.url) if article.url else None
    # The URL is the natural id; without one, a tag: URI (RFC 4151) that no
    # machine or date can change.
    entry_id = (
        link or f"tag:{site.host},{TAG_URI_DATE}:article/{percent_encode(_clean(article.id), '')}"
    )
    content = _resolve_links(_clean(article.content), link or site.home)
    summary = " ".join(_clean(article.summary).split()) or _text_of(content)[:300]
    title = " ".join(_clean(article.title).split()) or summary[:80] or article.id
    summary = summary or title
    summary_html = site.wrap(html.escape(summary, quote=False))
    content_html = site.wrap(content) if site.full_content and content.strip() else None
    author = " ".join(_clean(article.author or "").split())
    tags = [t for t in dict.fromkeys(article.tags) if t.slug.strip()]
    image = _absolute(site, article.image) if article.image else None

    entry = _MemoEntry()
    entry.guid(entry_id, permalink=bool(article.url))  # also the Atom id
    entry.title(title)
    if link:
        entry.link(href=link, rel="alternate", type="text/html")
    if image:
        # length 0: unknown, as the RSS Advisory Board recommends
        entry.link(href=image, rel="enclosure", type=_image_type(image), length="0")
    entry.summary(summary_html, type="html")  # RSS description
    if content_html:
        entry.content(content_html, type="html")  # Atom content, RSS content:encoded
    elif not link:
        # RFC 4287 4.1.1: an entry with no alternate link must have content.
        entry.content(summary_html, type="html")
        entry.atom_only_content = True
    entry.published(article.published)
    entry.updated(article.updated)
    if author:  # else inherited from the feed's author (RFC 4287 4.2.1)
        entry.author(name=author)
    for tag in tags:
        entry.category(term=_clean(tag.slug), label=_clean(tag.name))
    # RSS <author> must be an email address; names go in dc:creator.
    entry.register_extension("dc", DcEntryExtension, atom=False, rss=True)
    entry.dc.dc_creator(author or site.title)

    item = jsonfeed.JsonItem(
        id=entry_id,
        url=link,
        title=title,
        content_html=content_html or summary_html,
        summary=summary,
        date_published=article.published.isoformat(),
        date_modified=article.updated.isoformat(),
        authors=(author,) if author else (),
        tags=tuple(dict.fromkeys(_clean(t.name) for t in tags)),
        image=image,
        attachments=(jsonfeed.JsonAttachment(image, _image_type(image)),) if image else (),
    )
    return _Prepared(article=article, entry=entry, item=item)


# --- one document's head --------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    directory: str  # "" (main), "tag/<slug>", "feed-archive/<n>"
    atom_id: str  # each feed its own; archive pages share the main feed's
    title: str
    description: str
    home: str  # the HTML page the feed mirrors
    updated: datetime
    # RFC 5005 relation -> directory of the related document (same format)
    history: tuple[tuple[str, str], ...] = ()
    archived: bool = False

    def url(self, site: _Site, fmt: str, directory: str | None = None) -> str:
        """Public URL of this document (or of ``directory``'s) in ``fmt``."""
        where = self.directory if directory is None else directory
        return public_url(site.cfg, feed_paths(where, (fmt,))[fmt])

    def key(self) -> str:
        return "\x1f".join(
            [self.directory, self.atom_id, self.title, self.description, self.home]
            + [str(self.archived), self.updated.isoformat()]
            + [f"{rel}={d}" for rel, d in self.history]
        )


def _head_for(spec: FeedSpec, site: _Site, archive_pages: int) -> _Head:
    history: tuple[tuple[str, str], ...] = ()
    if archive_pages and spec.path == "":
        history = (("prev-archive", f"{ARCHIVE_DIR}/{archive_pages}"),)
    title = _clean(spec.title) or site.title
    return _Head(
        directory=spec.path,
        atom_id=public_url(site.cfg, feed_paths(spec.path, ("atom",))["atom"]),
        title=title,
        description=title if spec.tag else site.description or title,
        home=site.home + percent_encode(spec.path, "/") + "/" if spec.path else site.home,
        # Newest entry's, not the clock's: rebuilds stay byte-identical.
        updated=max((a.updated for a in spec.articles), default=EMPTY_FEED_UPDATED),
        history=history,
    )


# --- writers ----------------------------------------------------------------------


class _FeedHistory(BaseExtension):  # type: ignore[misc]
    """Feed-level extras feedgen cannot express: RFC 5005 ``fh:archive``, and
    in RSS the ``atom:link`` relations besides self (hub, archives)."""

    def __init__(self) -> None:
        self.archived = False
        self.rss_links: list[tuple[str, str, str | None]] = []  # rel, href, type

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS} if self.archived else {}

    def extend_atom(self, feed: Any) -> Any:
        if self.archived:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        return feed

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        for rel, href, media_type in self.rss_links:
            link = etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=href, rel=rel)
            if media_type:
                link.set("type", media_type)
        if self.archived:
            etree.SubElement(channel, f"{{{FH_NS}}}archive")
        return feed


def _generator(head: _Head, site: _Site) -> Any:
    fg = FeedGenerator()
    fg.title(head.title)
    fg.description(head.description)  # RSS only
    if site.description:
        fg.subtitle(site.description)
    fg.language(site.language)  # RSS <language> and Atom xml:lang
    fg.author(name=site.title)  # RFC 4287: entries without an author inherit it
    fg.updated(head.updated)  # also RSS lastBuildDate; feedgen's default is now()
    fg.generator("feedpub")  # no version: an upgrade alone must not change the bytes
    if head.archived:
        fg.register_extension("feedpub", _FeedHistory, None, atom=True, rss=True)
        fg.feedpub.archived = True
    return fg


def _add_entries(fg: Any, entries: Sequence[_Prepared]) -> None:
    for prepared in entries:
        # feedgen prepends by default; the list is already newest first.
        fg.add_entry(prepared.entry, order="append")


def write_atom(head: _Head, entries: Sequence[_Prepared], site: _Site) -> bytes:
    """Atom, RFC 4287: https://www.rfc-editor.org/rfc/rfc4287 (history links
    and fh:archive from RFC 5005: https://www.rfc-editor.org/rfc/rfc5005)."""
    fg = _generator(head, site)
    fg.id(head.atom_id)
    fg.link(href=head.url(site, "atom"), rel="self", type=ATOM_TYPE)
    if site.hub and not head.archived:
        fg.link(href=site.hub, rel="hub")
    for rel, directory in head.history:
        fg.link(href=head.url(site, "atom", directory), rel=rel, type=ATOM_TYPE)
    # Last: feedgen takes the RSS channel <link> from the last link() call.
    fg.link(href=head.home, rel="alternate", type="text/html")
    _add_entries(fg, entries)
    data: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return data


def write_rss(head: _Head, entries: Sequence[_Prepared], site: _Site) -> bytes:
    """RSS 2.0: https://www.rssboard.org/rss-specification (with the Advisory
    Board's profile: atom:link self, dc:creator, content:encoded)."""
    fg = _generator(head, site)
    fg.load_extension("dc", atom=False, rss=True)
    fg.link(href=head.url(site, "rss"), rel="self", type=RSS_TYPE)
    fg.link(href=head.home, rel="alternate", type="text/html")  # last: the channel <link>
    extras: list[tuple[str, str, str | None]] = [
        (rel, head.url(site, "rss", d), RSS_TYPE) for rel, d in head.history
    ]
    if site.hub and not head.archived:
        extras.insert(0, ("hub", site.hub, None))
    if extras:
        if not head.archived:
            fg.register_extension("feedpub", _FeedHistory, None, atom=False, rss=True)
        fg.feedpub.rss_links = extras
    _add_entries(fg, entries)
    data: bytes = fg.rss_str(pretty=True, encoding="UTF-8")
    return data


def write_json(head: _Head, entries: Sequence[_Prepared], site: _Site) -> bytes:
    """JSON Feed 1.1: https://www.jsonfeed.org/version/1.1/"""
    return jsonfeed.render(
        jsonfeed.JsonFeed(
            title=head.title,
            home_page_url=head.home,
            feed_url=head.url(site, "json"),
            language=site.language,
            description=head.description,
            authors=(site.title,),
            hubs=(site.hub,) if site.hub else (),
            items=[p.item for p in entries],
        )
    )


_WRITERS: dict[str, Callable[[_Head, Sequence[_Prepared], _Site], bytes]] = {
    "atom": write_atom,
    "rss": write_rss,
    "json": write_json,
}


def write_opml(title: str, outlines: Sequence[tuple[str, str, str]]) -> bytes:
    """OPML 2.0: http://opml.org/spec2.opml. ``outlines``: (text, xmlUrl,
    htmlUrl); every feed outline is type="rss" whatever its format, as the
    spec says subscription lists do."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    for text, xml_url, html_url in outlines:
        etree.SubElement(
            body, "outline", text=text, title=text, type="rss", xmlUrl=xml_url, htmlUrl=html_url
        )
    data: bytes = etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return data


# --- the build ---------------------------------------------------------------------


class _TreeCollector:
    """Collects a build's files: a group of paths whose fingerprint matches
    the previous build's is kept as it is (None: not rendered again), any
    other group is rendered."""

    def __init__(self, previous: Mapping[str, str]) -> None:
        self.previous = previous
        self.files: dict[str, bytes | None] = {}
        self.prints: dict[str, str] = {}

    def add(
        self, paths: Iterable[str], fingerprint: str, render: Callable[[], Mapping[str, bytes]]
    ) -> None:
        group = list(paths)
        if all(self.previous.get(path) == fingerprint for path in group):
            self.files.update(dict.fromkeys(group))
        else:
            self.files.update(render())
        self.prints.update(dict.fromkeys(group, fingerprint))

    def tree(self, notes: Sequence[str] = ()) -> RenderedTree:
        return RenderedTree(files=self.files, fingerprints=self.prints, notes=tuple(notes))


def render_feeds(
    plan: FeedPlan, cfg: Config, previous: Mapping[str, str] | None = None
) -> RenderedTree:
    """Every feed of ``plan`` in every configured format, plus feeds.opml and
    index.html. ``previous`` (path -> fingerprint, from the last build's
    manifest) lets files whose inputs did not change skip rendering."""
    site = _Site.of(cfg)
    cache = _EntryCache(site)
    out = _TreeCollector(previous or {})
    notes: list[str] = []
    specs: list[FeedSpec] = []
    seen: set[str] = set()
    for spec in (plan.main, *plan.tags):
        if not _plain_directory(spec.path) or spec.path.split("/")[0] == ARCHIVE_DIR:
            notes.append(f"feed {spec.path!r} skipped: not a plain relative folder name")
        elif spec.path in seen:
            notes.append(f"feed {spec.path!r} skipped: two feeds share that folder")
        else:
            seen.add(spec.path)
            specs.append(spec)

    for spec in specs:
        head = _head_for(spec, site, plan.archive_pages if spec is plan.main else 0)
        fingerprint = _digest([site.key, head.key()] + [cache.key(a) for a in spec.articles])
        paths = feed_paths(spec.path, site.formats)

        def render(
            head: _Head = head, spec: FeedSpec = spec, paths: Mapping[str, str] = paths
        ) -> dict[str, bytes]:
            entries = [cache.get(a) for a in spec.articles]
            return {path: _WRITERS[fmt](head, entries, site) for fmt, path in paths.items()}

        out.add(paths.values(), fingerprint, render)

    # The list of feeds: OPML and index.html change only when it does.
    listing = [(spec.path, _head_for(spec, site, 0), spec) for spec in specs]
    listing_key = [site.key, *site.formats] + [
        f"{path}\x1f{head.title}\x1f{spec.tag.name if spec.tag else ''}"
        for path, head, spec in listing
    ]
    out.add([OPML_PATH], _digest(listing_key), lambda: {OPML_PATH: _opml(site, listing)})
    template = templating.templates_dir() / INDEX_TEMPLATE
    out.add(
        [INDEX_PATH],
        _digest([*listing_key, template.read_text(encoding="utf-8")]),
        lambda: {INDEX_PATH: _index(site, listing)},
    )
    return out.tree(notes)


def _opml(site: _Site, listing: Sequence[tuple[str, _Head, FeedSpec]]) -> bytes:
    outlines = [
        (f"{head.title} ({FORMATS[fmt].label})", head.url(site, fmt), head.home)
        for _path, head, _spec in listing
        for fmt in site.formats
    ]
    return write_opml(site.title, outlines)


def _index(site: _Site, listing: Sequence[tuple[str, _Head, FeedSpec]]) -> bytes:
    def links(head: _Head) -> list[dict[str, str]]:
        return [
            {
                "type": FORMATS[fmt].media_type,
                "label": FORMATS[fmt].label,
                "title": f"{head.title} ({FORMATS[fmt].label})",
                "url": head.url(site, fmt),
            }
            for fmt in site.formats
        ]

    main = [(head, spec) for path, head, spec in listing if path == ""]
    tags = [(head, spec) for path, head, spec in listing if path != ""]
    text = templating.render(
        INDEX_TEMPLATE,
        lang=site.language,
        dir=site.direction,
        title=site.title,
        description=site.description,
        home=site.home,
        discovery=[link for head, _ in main for link in links(head)],
        main=[{"title": head.title, "links": links(head)} for head, _ in main],
        tags=[
            {"name": _clean(spec.tag.name) if spec.tag else head.title, "links": links(head)}
            for head, spec in tags
        ],
        opml_url=public_url(site.cfg, OPML_PATH),
    )
    return text.encode("utf-8")


# --- RFC 5005 archive ----------------------------------------------------------------


def archive_paths(index: int, cfg: Config) -> dict[str, str]:
    """Format name -> relative path of archive page ``index``."""
    formats = [f for f in cfg.feeds.formats if f in ARCHIVE_FORMATS]
    return feed_paths(f"{ARCHIVE_DIR}/{index}", dict.fromkeys(formats))


def render_archive_page(page: ArchivePage, total_pages: int, cfg: Config) -> dict[str, bytes]:
    """Archive page ``page.index`` of the main feed (1 = oldest) in Atom and
    RSS: marked fh:archive, linked to the current feed and its neighbours."""
    return _render_archive_page(page, total_pages, _Site.of(cfg), None)


def _render_archive_page(
    page: ArchivePage, total_pages: int, site: _Site, cache: _EntryCache | None
) -> dict[str, bytes]:
    cache = cache or _EntryCache(site)
    n = page.index
    history = [("current", "")]
    if n > 1:
        history.append(("prev-archive", f"{ARCHIVE_DIR}/{n - 1}"))
    if n < total_pages:
        history.append(("next-archive", f"{ARCHIVE_DIR}/{n + 1}"))
    head = _Head(
        directory=f"{ARCHIVE_DIR}/{n}",
        atom_id=public_url(site.cfg, FORMATS["atom"].filename),
        title=f"{site.title} ({n})",
        description=site.description or site.title,
        home=site.home,
        updated=max((a.updated for a in page.articles), default=EMPTY_FEED_UPDATED),
        history=tuple(history),
        archived=True,
    )
    entries = [cache.get(a) for a in page.articles]
    return {
        path: _WRITERS[fmt](head, entries, site) for fmt, path in archive_paths(n, site.cfg).items()
    }


def render_archive(
    total_pages: int,
    cfg: Config,
    load: Callable[[int], ArchivePage],
    previous: Mapping[str, str] | None = None,
) -> RenderedTree:
    """Every archive page, loading (``load(index)``, e.g. select.archive_page)
    only those not already written: a page's articles are fixed once it is
    full, so its fingerprint is its position (and whether a newer page
    exists, for the next-archive link) under the page size that cut it."""
    site = _Site.of(cfg)
    cache = _EntryCache(site)
    out = _TreeCollector(previous or {})
    for n in range(1, total_pages + 1):
        fingerprint = _digest(
            [site.key, ARCHIVE_DIR, str(cfg.feeds.archive_page_size), str(n), str(n < total_pages)]
        )

        def render(n: int = n) -> dict[str, bytes]:
            return _render_archive_page(load(n), total_pages, site, cache)

        out.add(archive_paths(n, cfg).values(), fingerprint, render)
    return out.tree()
