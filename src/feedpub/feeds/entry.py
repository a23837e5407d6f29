"""The neutral entry model every writer reads (Django ``feedgenerator`` style:
``SyndicationFeed.add_item`` stores plain values, each writer only prints).

An article becomes one frozen ``FeedItem`` of final values once per build
(``ItemCache``), however many feeds hold it: ids, URIs, text and HTML are
already what every format prints. A ``FeedHead`` is one document's
feed-level values. Writers decide only what their format requires on top
(Atom content when there is no link; where each value goes).

Categories: an entry carries at most ``MAX_CATEGORIES`` of its article's tags
(in the article's order), plus, in a tag feed, that feed's tag. Without a
cap an article with thousands of tags repeats all of them in each of its
thousands of tag feeds: quadratic time and size. ``ingest.max_tags`` bounds
what is stored; this bounds what is written, whatever the store holds.

Titles are plain text in every format. A title holding "<" is the one case
where reading it as text and as HTML differ visibly (many readers render
titles as HTML whatever the format says), so ``title_is_markup`` tells the
writers to print such a title as escaped HTML (see atom.py and rss.py).

``Writer`` is what each format module (atom, rss, jsonfeed) gives the
registry (``writers.py``). It sits here, beside the model it prints, so a
writer module imports this one only and the registry can import the writers.
"""

from __future__ import annotations

import functools
import html
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedpub import links
from feedpub.feeds.site import SiteValues
from feedpub.model import Article, Tag
from feedpub.text.arabic import strip_xml_illegal as clean
from feedpub.text.uri import iri_to_uri, percent_encode

MAX_CATEGORIES = 25
# The date of a tag: URI (RFC 4151) is part of the id, so it is a constant:
# derived from the clock, entry ids would change every year.
TAG_URI_DATE = "2026"
# updated of a feed with no entries: fixed, so empty feeds rebuild identically.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)

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
class Category:
    term: str  # the tag's slug
    label: str  # the tag's name

    @classmethod
    def of(cls, tag: Tag) -> Category:
        return cls(term=clean(tag.slug), label=clean(tag.name))


@dataclass(frozen=True)
class FeedImage:
    """The article's image as every format prints it: Media RSS
    ``media:content`` and ``media:thumbnail`` (RSS, Atom), JSON Feed
    ``image``, an ``<img>`` at the top of the HTML, and an enclosure only when
    its size is known (RSS requires a length; a guessed 0 helps nobody)."""

    url: str  # absolute URI
    media_type: str | None  # from the file name; None when it says nothing
    width: int | None  # pixels, when the source said
    height: int | None
    alt: str  # the source's alternative text, else the article's title
    length: int | None  # bytes, when the source said

    def enclosure(self) -> tuple[str, int] | None:
        """(type, length) when it goes out as an enclosure too: RSS wants
        both, and a guessed 0 or octet-stream helps no reader."""
        if self.length is None or self.media_type is None:
            return None
        return self.media_type, self.length


@dataclass(frozen=True)
class FeedItem:
    """One article as every format prints it."""

    id: str  # the article's first URL, else a tag: URI; never changes (entry_id)
    permalink: bool  # the id is the link, the URL it has now (RSS guid isPermaLink)
    title: str  # plain text
    link: str  # the article's own URL, else the page feedpub publishes for it
    summary: str  # plain text
    summary_html: str  # the summary escaped and direction-wrapped
    content_html: str | None  # direction-wrapped, links absolute; None: summaries only
    published: datetime
    updated: datetime
    author: str  # "" when unknown: the feed's author stands for it
    categories: tuple[Category, ...]  # at most MAX_CATEGORIES
    capped: bool  # the article had more tags than ``categories`` holds
    image: FeedImage | None

    def categories_in(self, feed_tag: Category | None) -> tuple[Category, ...]:
        """The categories to write in a feed of ``feed_tag`` (None: not a tag
        feed): a capped entry still names the tag that put it in that feed."""
        if self.capped and feed_tag is not None and feed_tag not in self.categories:
            return (*self.categories, feed_tag)
        return self.categories


@dataclass(frozen=True)
class HistoryLink:
    """An RFC 5005 relation of a document to another: format -> its URL."""

    rel: str
    urls: Mapping[str, str]


@dataclass(frozen=True)
class FeedHead:
    """One document's feed-level values, ready to print."""

    directory: str  # "" (main), "tag/<slug>", "feed-archive/<n>"
    atom_id: str  # each feed its own; archive pages share the main feed's
    title: str  # plain text
    subtitle: str  # Atom subtitle and RSS description: the site's, else the feed's
    description: str  # JSON Feed description: the feed's own
    language: str
    author: str  # the site: RFC 4287 entries without an author inherit it
    home: str  # the HTML page the feed mirrors
    updated: datetime  # the newest entry's, never the clock's
    urls: Mapping[str, str]  # format -> URL of this document
    hub: str | None  # WebSub hub; None on archive pages, which never change
    history: tuple[HistoryLink, ...] = ()
    archived: bool = False
    tag: Category | None = None  # the tag of a tag feed


# Each (item, the head of the feed it sits in) -> that entry's bytes, in order.
EntryPrinter = Callable[[Sequence[tuple[FeedItem, FeedHead]]], list[bytes]]
# A head and its entries' bytes (from the printer) -> the whole document.
DocumentAssembler = Callable[[FeedHead, Sequence[bytes]], bytes]


@dataclass(frozen=True)
class Writer:
    """One feed format: what the registry (``writers.py``) knows of it.

    A document is its head with the entries' bytes spliced in: ``entries``
    prints each entry once per article version (the bytes are cached and
    reused in every feed holding it), ``document`` assembles a feed."""

    name: str  # as written in feeds.formats
    filename: str  # the document's file name in its feed's folder
    media_type: str  # Content-Type, autodiscovery and OPML
    label: str  # shown to people (OPML, index.html, topic pages)
    archivable: bool  # has RFC 5005 archive pages (feed-archive/<n>/)
    entries: EntryPrinter
    document: DocumentAssembler
    # The version of the library printing it ("" when written by hand): an
    # upgrade changes every fingerprint, so every document is printed again.
    engine: str = ""
    # Its entries print the feed's author for an article without one (RSS
    # dc:creator), so an entry's bytes differ between feeds of other authors.
    entries_show_feed_author: bool = False

    def write(self, head: FeedHead, items: Sequence[FeedItem]) -> bytes:
        """The whole document of ``head`` holding ``items``, printed now."""
        return self.document(head, self.entries([(item, head) for item in items]))


def title_is_markup(text: str) -> bool:
    """Whether a plain-text title would turn into markup if a reader took it
    as HTML: only "<" does that (a bare "&" shows as itself in HTML)."""
    return "<" in text


def make_item(article: Article, site: SiteValues) -> FeedItem:
    """``article`` as a FeedItem; call once per article per build (ItemCache)."""
    link = article_link(article, site)
    # Most articles' id is the URL they still have: the link made above.
    same_url = article.first_url is None or article.first_url == article.url
    item_id = link if same_url and links.has_own_url(article) else entry_id(article, site)
    # A scraped page's relative links point into the site, not into our page.
    content = _resolve_links(
        clean(article.content), link if links.has_own_url(article) else site.home
    )
    summary = " ".join(clean(article.summary).split()) or _text_of(content)[:300]
    title = " ".join(clean(article.title).split()) or summary[:80] or article.id
    summary = summary or title
    image = _image(article, site, title)
    content_html = site.wrap(content) if site.feeds.full_content and content.strip() else None
    summary_html = site.wrap(html.escape(summary, quote=False))
    if image is not None and site.feeds.image_in_content:
        # Where NetNewsWire, ReadYou and others find a thumbnail: the first <img>.
        if content_html is not None:
            if not _shows(content, image, article.image or ""):
                content_html = site.wrap(_img(image) + content)
        else:
            summary_html = site.wrap(_img(image) + html.escape(summary, quote=False))
    tags = _tags(article)
    return FeedItem(
        id=item_id,
        permalink=item_id == link,
        title=title,
        link=link,
        summary=summary,
        summary_html=summary_html,
        content_html=content_html,
        published=article.published,
        updated=article.updated,
        author=_author(article),
        categories=tuple(_category(t) for t in tags[:MAX_CATEGORIES]),
        capped=len(tags) > MAX_CATEGORIES,
        image=image,
    )


def _image(article: Article, site: SiteValues, title: str) -> FeedImage | None:
    if not article.image or not article.image.strip():
        return None
    url = _absolute(site, article.image)
    return FeedImage(
        url=url,
        media_type=_image_type(url),
        width=_positive(article.image_width),
        height=_positive(article.image_height),
        alt=" ".join(clean(article.image_alt).split()) or title,
        length=_positive(article.image_bytes),
    )


def _positive(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


def _img(image: FeedImage) -> str:
    """The image as the first paragraph of an entry's HTML: alt always,
    dimensions when known (a reader reserves the space before it loads)."""
    size = "".join(
        f' {name}="{value}"'
        for name, value in (("width", image.width), ("height", image.height))
        if value is not None
    )
    return f'<p><img src="{html.escape(image.url)}" alt="{html.escape(image.alt)}"{size}></p>'


def _shows(content: str, image: FeedImage, stored: str) -> bool:
    """Whether the article's HTML already shows the image (then it is not
    added again at the top)."""
    if "<img" not in content:
        return False
    return any(f'src="{html.escape(url)}"' in content for url in {image.url, stored.strip()} if url)


def article_link(article: Article, site: SiteValues) -> str:
    """Where the article is read, as a URI: its own URL, else the page
    feedpub publishes for it (feeds/pages.py)."""
    return _absolute(site, links.article_url(site.feeds.url, article))


def entry_id(article: Article, site: SiteValues) -> str:
    """The entry's id, which never changes (RFC 4287: readers compare ids
    character by character; a new id shows the article twice). The URL the
    article was first stored with, else (first stored without one, even if
    it has one now) a tag: URI (RFC 4151) that no machine or date can change.
    ``first_url`` is "" for an article first stored without a URL, None when
    the article did not come from a store (then its URL stands for it)."""
    first = article.first_url if article.first_url is not None else article.url
    if first and first.strip():
        return _absolute(site, first)
    return f"tag:{site.host},{TAG_URI_DATE}:article/{percent_encode(clean(article.id), '')}"


@functools.lru_cache(maxsize=8192)
def _category(tag: Tag) -> Category:
    """A site has hundreds of tags, each on thousands of entries: made once."""
    return Category.of(tag)


def _tags(article: Article) -> list[Tag]:
    return [t for t in dict.fromkeys(article.tags) if t.slug.strip()]


def _author(article: Article) -> str:
    return " ".join(clean(article.author or "").split())


def entry_shape(article: Article) -> tuple[bool, bool]:
    """(capped, has an author) of ``article``'s FeedItem, without making it:
    the two item facts that make its entry differ between feeds."""
    return len(_tags(article)) > MAX_CATEGORIES, bool(_author(article))


class ItemCache:
    """Articles made FeedItems once per build. Within one build an article
    id with one content hash and ``updated`` is one article (the plan is a
    snapshot), so that triple is the key."""

    def __init__(self, site: SiteValues) -> None:
        self.site = site
        self._items: dict[tuple[str, str, datetime], FeedItem] = {}

    def get(self, article: Article) -> FeedItem:
        ident = (article.id, article.content_hash, article.updated)
        item = self._items.get(ident)
        if item is None:
            item = self._items[ident] = make_item(article, self.site)
        return item

    def clear(self) -> None:
        self._items.clear()


_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Any scheme, "mailto:" included: such a reference is not relative.
_ANY_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# href and src as the sanitiser (nh3) writes them: always double-quoted.
_URL_ATTRIBUTE = re.compile(r'(\s(?:href|src)=")([^"]*)(")', re.IGNORECASE)


# A URL that ``iri_to_uri`` returns as it is: a lowercase scheme, an ASCII
# host, and path, query and fragment of characters it never encodes (no
# "%", whose escapes it uppercases; no empty query or fragment, which
# urlunsplit drops). Most stored URLs are such, and the check is a tenth of
# the conversion's cost.
_PLAIN_URI = re.compile(
    r"[a-z][a-z0-9+.-]*://[A-Za-z0-9.-]+(?::[0-9]+)?"
    r"(?:/[A-Za-z0-9/:@!$&'()*+,;=._~-]*)?"
    r"(?:\?[A-Za-z0-9/:@!$&'()*+,;=?._~-]+)?"
    r"(?:#[A-Za-z0-9/:@!$&'()*+,;=?._~-]+)?"
)


def _absolute(site: SiteValues, url: str) -> str:
    url = clean(url).strip()
    if not _HAS_SCHEME.match(url):  # urljoin is slow; most stored URLs are absolute
        url = urllib.parse.urljoin(site.home, url)
    return url if _PLAIN_URI.fullmatch(url) else iri_to_uri(url)


def _resolve_links(fragment: str, base: str) -> str:
    """``fragment`` with relative href/src made absolute against ``base`` (the
    article's URL). Left relative, a reader resolves them against the feed's
    own URL: feeds.url/tag/<slug>/, not the article's page."""

    if '="' not in fragment:  # no attribute at all: most article bodies
        return fragment

    def resolve(match: re.Match[str]) -> str:
        value = html.unescape(match.group(2)).strip()
        if _ANY_SCHEME.match(value):
            return match.group(0)
        absolute = urllib.parse.urljoin(base, value)
        return match.group(1) + html.escape(absolute) + match.group(3)

    return _URL_ATTRIBUTE.sub(resolve, fragment)


def _image_type(url: str) -> str | None:
    path = urllib.parse.urlsplit(url).path.lower()
    dot = path.rfind(".")
    return _IMAGE_TYPES.get(path[dot:]) if dot >= 0 else None


def _text_of(fragment: str) -> str:
    if not fragment.strip():
        return ""
    # Here: a build that prints no entry (a no-op) never loads lxml.
    from lxml import etree
    from lxml import html as lxml_html

    try:
        text: str = lxml_html.fragment_fromstring(fragment, create_parent="div").text_content()
    except (etree.ParserError, ValueError):
        return ""
    return " ".join(text.split())
