"""What an HTML page says about itself: schema.org JSON-LD, schema.org
microdata, Open Graph and ``article:*`` meta tags (all three read by
extruct, the only module that imports it), then the plain HTML head
(``<link rel=canonical>``, ``<meta name=description>``, ``<title>``) and the
``rel=tag`` links of the page.

Nothing is decided here but what each source says: ``PageMeta`` holds, per
field, every value found with where it was found (``Found.origin``), in the
order a reader should believe them. ``html_pages`` takes the first usable
one and ``--explain`` prints them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from extruct.jsonld import JsonLdExtractor
from extruct.opengraph import OpenGraphExtractor
from extruct.w3cmicrodata import MicrodataExtractor
from lxml.html import HtmlElement

from feedpub.text.arabic import collapse_ws

# schema.org types that are one article. Subtypes of NewsArticle are listed
# because pages name them (ReportageNewsArticle, AnalysisNewsArticle, ...).
ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "BlogPosting",
        "LiveBlogPosting",
        "Report",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "BackgroundNewsArticle",
        "ReviewNewsArticle",
        "AskPublicNewsArticle",
        "SatiricalArticle",
        "TechArticle",
        "ScholarlyArticle",
    }
)
# Types a page uses to say it is not an article: listings, search, people.
NOT_ARTICLE_TYPES: dict[str, str] = {
    "CollectionPage": "a listing page",
    "SearchResultsPage": "a search results page",
    "ProfilePage": "a profile page",
    "ItemList": "a list of items",
    "AboutPage": "an about page",
    "ContactPage": "a contact page",
    "FAQPage": "a questions page",
}
_SCHEMA_PREFIX = re.compile(r"^(?:https?://schema\.org/|schema:)", re.I)
# Separators of keyword lists: "a, b", "أ، ب", "a; b".
KEYWORD_SPLIT = re.compile(r"\s*[,،;؛]\s*")
# <link rel=tag> links in these containers are a widget's, not the post's.
_WIDGET_CONTAINERS = ("aside", "nav")
_WIDGET_WORDS = re.compile(r"related|sidebar|widget|popular|most-?read|comment|menu", re.I)


@dataclass(frozen=True)
class Found:
    """One value a page gives for a field, and where."""

    value: str
    origin: str  # "JSON-LD NewsArticle.headline", "meta og:title", ...


@dataclass(frozen=True)
class Image:
    url: str
    origin: str
    width: int | None = None
    height: int | None = None
    alt: str | None = None


@dataclass
class PageMeta:
    """Every value the page's metadata gives, per field, best first."""

    title: list[Found] = field(default_factory=list)
    summary: list[Found] = field(default_factory=list)
    published: list[Found] = field(default_factory=list)
    updated: list[Found] = field(default_factory=list)
    author: list[Found] = field(default_factory=list)
    url: list[Found] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    tags: list[Found] = field(default_factory=list)
    # Tags of rel=tag links left out, with why (``--explain``).
    dropped_tags: list[Found] = field(default_factory=list)
    # What the metadata says the page is: the article type found ("JSON-LD
    # NewsArticle"), or why it is not one; both None when it says nothing.
    article_type: str | None = None
    not_article: str | None = None
    og_type: str | None = None
    site_name: str | None = None
    base: str | None = None  # <base href>
    # Metadata that could not be read (a JSON-LD block that is not JSON).
    problems: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def read_meta(root: HtmlElement) -> PageMeta:
    """``PageMeta`` of a parsed page. URLs are as the page writes them (a
    relative one is resolved by the caller, who knows the page's address)."""
    meta = PageMeta()
    _from_jsonld(root, meta)
    _from_microdata(root, meta)
    _from_date_attributes(root, meta)
    _from_opengraph(root, meta)
    _from_head(root, meta)
    _from_rel_tags(root, meta)
    return meta


# --- JSON-LD -------------------------------------------------------------------------------

_JSONLD = JsonLdExtractor()
_JSONLD_SCRIPTS = "//script[@type='application/ld+json']"


def _types(node: dict[str, Any]) -> list[str]:
    raw = node.get("@type")
    names = raw if isinstance(raw, list) else [raw]
    return [_SCHEMA_PREFIX.sub("", n) for n in names if isinstance(n, str)]


def _nodes(data: Any) -> Iterator[dict[str, Any]]:
    """Every object of a JSON-LD document: top-level lists and ``@graph``s
    opened (nested objects stay where they are, reached by the fields)."""
    if isinstance(data, list):
        for item in data:
            yield from _nodes(item)
    elif isinstance(data, dict):
        graph = data.get("@graph")
        if isinstance(graph, list | dict):
            yield from _nodes(graph)
        if "@type" in data:
            yield data


def _from_jsonld(root: HtmlElement, meta: PageMeta) -> None:
    nodes: list[dict[str, Any]] = []
    for number, script in enumerate(root.xpath(_JSONLD_SCRIPTS), start=1):
        try:
            items = _JSONLD.extract_items(script)
        except ValueError as exc:  # json.JSONDecodeError, and jstyleson's
            meta.problems.append(f"JSON-LD block {number} is not valid JSON: {exc}")
            continue
        except RecursionError:
            meta.problems.append(f"JSON-LD block {number} is nested too deeply")
            continue
        for item in items:
            nodes.extend(_nodes(item))
    if not nodes:
        return
    by_id = {n["@id"]: n for n in nodes if isinstance(n.get("@id"), str)}
    meta.sources.append("JSON-LD: " + ", ".join(t for n in nodes for t in _types(n)[:1]))
    article = next((n for n in nodes if ARTICLE_TYPES.intersection(_types(n))), None)
    if article is None:
        for node in nodes:
            for kind in _types(node):
                if kind in NOT_ARTICLE_TYPES and meta.not_article is None:
                    meta.not_article = f"JSON-LD says {kind} ({NOT_ARTICLE_TYPES[kind]})"
        return
    kind = next(t for t in _types(article) if t in ARTICLE_TYPES)
    meta.article_type = meta.article_type or f"JSON-LD {kind}"
    where = f"JSON-LD {kind}"
    resolve = _Resolver(by_id)
    _schema_fields(article, where, meta, resolve)
    # Yoast and others put the description and URL on the WebPage the
    # article is part of (isPartOf / mainEntityOfPage).
    for key in ("mainEntityOfPage", "isPartOf"):
        page = resolve(article.get(key))
        if isinstance(page, dict) and page is not article:
            page_where = f"JSON-LD {(_types(page) or ['WebPage'])[0]} ({key})"
            _add(meta.summary, page.get("description"), f"{page_where}.description")
            _add(meta.url, page.get("url"), f"{page_where}.url")


class _Resolver:
    """Follows ``{"@id": ...}`` references to the node of that id."""

    def __init__(self, by_id: dict[str, dict[str, Any]]) -> None:
        self.by_id = by_id

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("@id"), str):
            target = self.by_id.get(value["@id"])
            if target is not None and len(value) <= 2:  # {"@id": x} or {"@id": x, "name": y}
                return {**target, **{k: v for k, v in value.items() if k != "@id"}}
        return value


def _schema_fields(
    item: dict[str, Any], where: str, meta: PageMeta, resolve: _Resolver | None = None
) -> None:
    """The fields of a schema.org article (a JSON-LD node or the
    ``properties`` of a microdata item) into ``meta``."""

    def res(value: Any) -> Any:
        return resolve(value) if resolve is not None else value

    _add(meta.title, item.get("headline"), f"{where}.headline")
    _add(meta.title, item.get("name"), f"{where}.name")
    description = item.get("description")
    if description is not None and description == item.get("articleBody"):
        # Blogger marks its post body itemprop="description articleBody".
        meta.problems.append(f"{where}.description is the article's whole body: not a summary")
    else:
        _add(meta.summary, description, f"{where}.description")
    _add(meta.published, item.get("datePublished"), f"{where}.datePublished")
    _add(meta.published, item.get("dateCreated"), f"{where}.dateCreated")
    _add(meta.updated, item.get("dateModified"), f"{where}.dateModified")
    names = [n for n in map(_person_name, _listed(res(item.get("author")), res)) if n]
    if names:
        meta.author.append(Found("، ".join(dict.fromkeys(names)), f"{where}.author"))
    _add(meta.url, item.get("url"), f"{where}.url")
    entity = res(item.get("mainEntityOfPage"))
    if isinstance(entity, dict):
        entity = entity.get("@id") or entity.get("url") or _props(entity).get("url")
    _add(meta.url, entity, f"{where}.mainEntityOfPage")
    for image in _listed(res(item.get("image")), res):
        found = _image(image, f"{where}.image")
        if found is not None:
            meta.images.append(found)
    for value in _listed(item.get("articleSection"), res):
        for part in KEYWORD_SPLIT.split(_text(value)) if isinstance(value, str) else []:
            _add(meta.tags, part, f"{where}.articleSection")
    for value in _listed(item.get("keywords"), res):
        for part in KEYWORD_SPLIT.split(value) if isinstance(value, str) else []:
            _add(meta.tags, part, f"{where}.keywords")


def _listed(value: Any, res: Any) -> list[Any]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [res(item) if callable(res) else item for item in items]


def _props(item: dict[str, Any]) -> dict[str, Any]:
    """A microdata item's properties, or a JSON-LD node itself."""
    props = item.get("properties")
    return props if isinstance(props, dict) else item


def _person_name(value: Any) -> str | None:
    if isinstance(value, str):
        text = _text(value)
        return None if _looks_like_url(text) else text or None
    if isinstance(value, dict):
        props = _props(value)
        name = props.get("name")
        if isinstance(name, list):
            name = next((n for n in name if isinstance(n, str)), None)
        if isinstance(name, str) and _text(name):
            return _text(name)
    return None


def _image(value: Any, where: str) -> Image | None:
    if isinstance(value, str):
        return Image(_text(value), where) if _text(value) else None
    if not isinstance(value, dict):
        return None
    props = _props(value)
    raw = props.get("url") or props.get("contentUrl") or props.get("contentURL")
    if isinstance(raw, list):
        raw = next((u for u in raw if isinstance(u, str)), None)
    if not isinstance(raw, str) or not _text(raw):
        return None
    url = raw
    alt = props.get("caption") or props.get("description") or props.get("name")
    return Image(
        _text(url),
        where,
        width=_pixels(props.get("width")),
        height=_pixels(props.get("height")),
        alt=_text(alt) if isinstance(alt, str) and _text(alt) else None,
    )


_PIXELS = re.compile(r"^\s*(\d{1,5})(?:\s*px)?\s*$")


def _pixels(value: Any) -> int | None:
    """1200, "1200", "1200px" or {"@type": "QuantitativeValue", "value": 1200}."""
    if isinstance(value, dict):
        value = _props(value).get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 100_000 else None
    if isinstance(value, str):
        found = _PIXELS.match(value)
        return int(found.group(1)) or None if found else None
    return None


def _text(value: str) -> str:
    return collapse_ws(value)


def _looks_like_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "//", "/"))


def _add(target: list[Found], value: Any, origin: str) -> None:
    if isinstance(value, list):  # microdata repeats a property as a list
        for item in value:
            _add(target, item, origin)
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        text = _text(value)
        if text:
            target.append(Found(text, origin))


# --- microdata -----------------------------------------------------------------------------

_MICRODATA = MicrodataExtractor()


def _microdata_items(items: list[Any]) -> Iterator[dict[str, Any]]:
    """Every item, nested ones included (an article inside a WebPage item)."""
    for item in items:
        if not isinstance(item, dict):
            continue
        yield item
        for value in _props(item).values():
            yield from _microdata_items(value if isinstance(value, list) else [value])


def _from_microdata(root: HtmlElement, meta: PageMeta) -> None:
    if not root.xpath("//*[@itemscope][1]"):
        return  # most pages have none: the extractor's walk costs more than this test
    items = list(_microdata_items(_MICRODATA.extract_items(root, None)))
    if not items:
        return
    kinds = [_item_types(item) for item in items]
    meta.sources.append(
        "microdata: " + ", ".join(k[0] for k in kinds if k) if any(kinds) else "microdata"
    )
    for item, types in zip(items, kinds, strict=True):
        kind = next((t for t in types if t in ARTICLE_TYPES), None)
        if kind is None:
            continue
        meta.article_type = meta.article_type or f"microdata {kind}"
        _schema_fields(_props(item), f"microdata {kind}", meta)
        return
    for types in kinds:
        for kind in types:
            if kind in NOT_ARTICLE_TYPES and meta.not_article is None:
                meta.not_article = f"microdata says {kind} ({NOT_ARTICLE_TYPES[kind]})"


def _is_article_item(element: HtmlElement) -> bool:
    kinds = element.get("itemtype", "").split() if element.get("itemscope") is not None else []
    return any(_SCHEMA_PREFIX.sub("", k.rstrip("/")) in ARTICLE_TYPES for k in kinds)


def _item_types(item: dict[str, Any]) -> list[str]:
    raw = item.get("type")
    names = raw if isinstance(raw, list) else [raw]
    return [_SCHEMA_PREFIX.sub("", n.rstrip("/")) for n in names if isinstance(n, str)]


_DATE_ELEMENTS = (
    "//*[contains(@itemprop, 'datePublished') or contains(@itemprop, 'dateModified')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' published ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' updated ')]"
    "[@title or @datetime or @content]"
)


def _from_date_attributes(root: HtmlElement, meta: PageMeta) -> None:
    """Dates an element carries in an attribute: ``<abbr class="published"
    title="2026-11-22T10:00:00+03:00">`` (microformats' hAtom, and Blogger's
    ``itemprop="datePublished"``, whose microdata value is the visible text,
    often a bare time), ``<time datetime>``. After microdata's own values."""
    for element in root.xpath(_DATE_ELEMENTS):
        marks = f"{element.get('itemprop', '')} {element.get('class', '')}".split()
        published = "datePublished" in marks or "published" in marks
        target = meta.published if published else meta.updated
        for attribute in ("datetime", "content", "title"):
            value = element.get(attribute)
            if value:
                origin = f"<{element.tag} {'published' if published else 'updated'}> {attribute}"
                _add(target, value, origin)
                break


# --- Open Graph and article:* --------------------------------------------------------------

_OPENGRAPH = OpenGraphExtractor()


def _from_opengraph(root: HtmlElement, meta: PageMeta) -> None:
    props: list[tuple[str, str]] = []
    for block in _OPENGRAPH.extract_items(root):
        props.extend(block.get("properties", []))
    if not props:
        return
    meta.sources.append(f"Open Graph: {len(props)} properties")
    image: dict[str, str] = {}
    images: list[dict[str, str]] = []
    for name, raw in props:
        value = _text(raw)
        if not value:
            continue
        origin = f"meta {name}"
        if name in ("og:image", "og:image:url", "og:image:secure_url"):
            if name == "og:image" or "url" not in image:
                if name == "og:image" and image:
                    images.append(image)
                    image = {}
                image["url"] = value
        elif name in ("og:image:width", "og:image:height", "og:image:alt"):
            image.setdefault(name.rsplit(":", 1)[1], value)
        elif name == "og:title":
            meta.title.append(Found(value, origin))
        elif name == "og:description":
            meta.summary.append(Found(value, origin))
        elif name == "og:url":
            meta.url.append(Found(value, origin))
        elif name == "og:type":
            meta.og_type = meta.og_type or value
        elif name == "og:site_name":
            meta.site_name = meta.site_name or value
        elif name == "article:published_time":
            meta.published.append(Found(value, origin))
        elif name in ("article:modified_time", "og:updated_time"):
            meta.updated.append(Found(value, origin))
        elif name in ("article:section", "article:tag"):
            meta.tags.append(Found(value, origin))
        elif name == "article:author" and not _looks_like_url(value):
            meta.author.append(Found(value, origin))
    if image:
        images.append(image)
    for found in images:
        if "url" in found:
            meta.images.append(
                Image(
                    found["url"],
                    "meta og:image",
                    width=_pixels(found.get("width")),
                    height=_pixels(found.get("height")),
                    alt=found.get("alt"),
                )
            )


# --- the plain head, and rel=tag -----------------------------------------------------------


def _from_head(root: HtmlElement, meta: PageMeta) -> None:
    for link in root.xpath("//link[@href and @rel]"):
        if "canonical" in link.get("rel", "").lower().split():
            _add(meta.url, link.get("href"), "link rel=canonical")
            break
    base = root.xpath("//base[@href]/@href")
    if base:
        meta.base = _text(str(base[0])) or None
    for element in root.xpath("//meta[@name and @content]"):
        name = element.get("name", "").lower()
        content = element.get("content", "")
        if name == "description":
            _add(meta.summary, content, "meta description")
        elif name == "author" and not _looks_like_url(_text(content)):
            _add(meta.author, content, "meta author")
        elif name == "twitter:image" or name == "twitter:image:src":
            url = _text(content)
            if url:
                meta.images.append(Image(url, f"meta {name}"))
    # The canonical link outranks structured data for the address: it is
    # what the page says it is, where a template's "url" is often the site's.
    meta.url.sort(key=lambda f: f.origin != "link rel=canonical")


def _from_rel_tags(root: HtmlElement, meta: PageMeta) -> None:
    for link in root.xpath("//a[@rel and @href]"):
        if "tag" not in link.get("rel", "").lower().split():
            continue
        name = _text(link.text_content())
        if not name:
            continue
        widget = _widget(link)
        if widget:
            meta.dropped_tags.append(Found(name, f"rel=tag link in {widget}"))
        else:
            meta.tags.append(Found(name, "rel=tag link"))


def _widget(element: HtmlElement) -> str | None:
    """The widget an element sits in (a sidebar, a menu, a related-posts
    box), if any: its rel=tag links name other posts' tags. The walk up
    stops at the article (``<article>``, an article's microdata item):
    what holds the article is the page's layout, whatever its class says
    (Blogger's post sits in a ``widget Blog``)."""
    for ancestor in element.iterancestors():
        tag = ancestor.tag if isinstance(ancestor.tag, str) else ""
        if tag in ("body", "html", "article") or _is_article_item(ancestor):
            break
        if tag in _WIDGET_CONTAINERS:
            return f"<{tag}>"
        marks = f"{ancestor.get('class', '')} {ancestor.get('id', '')}"
        if _WIDGET_WORDS.search(marks):
            return f"<{tag} {marks.strip()[:40]!r}>"
    return None
