"""A WordPress post (one object of the REST API's ``wp/v2/posts``, with
``_embed``) into an ``Article``, every field mapped deliberately, each with
where it came from (``--explain`` prints the trail):

* id: the post's id under the source's name (``wordpress:host:123``), so two
  sites' post 7 never collide;
* title and excerpt: ``title.rendered`` / ``excerpt.rendered`` as plain text,
  HTML entities decoded (``&#8211;`` is «–»), the excerpt's "continue
  reading" link (a link to the post itself, or ``.more-link``) dropped and
  WordPress's ``[…]`` made an ellipsis; no excerpt: the content's first
  paragraph, as records do;
* content: ``content.rendered`` sanitised as every input is
  (``article.clean_content``);
* dates: ``date_gmt`` and ``modified_gmt`` read as UTC (the API gives them
  without an offset); never ``date``, which is site-local without one;
* url: ``link`` (the permalink); author: the embedded author's ``name``;
* tags: the embedded terms of the ``category`` and ``post_tag`` taxonomies,
  by name as written (through the tag vocabulary), leaving out WordPress's
  placeholder category («غير مصنف», Uncategorized), which says "none";
* image: the embedded featured media, its ``large`` rendition when
  WordPress made one (the size it puts in content; a full-size original
  can be megabytes, too heavy for a phone's mail), with its width, height
  and ``alt_text``.

A password-protected post is not public: a reject, and withdrawn if an
earlier version was stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from feedpub.ingest.article import Fields, assemble, clean_content, plain, tags_for
from feedpub.ingest.context import FileContext
from feedpub.model import Article, Reject
from feedpub.text.sanitize import html_paragraphs

# The name WordPress gives its default category, in English and Arabic: a
# post "in" it has no category at all.
PLACEHOLDER_CATEGORIES = frozenset({"uncategorized", "غير مصنف"})
# Sizes of the featured image, in the order taken.
IMAGE_SIZES = ("large", "full")
TAXONOMIES = ("category", "post_tag")

_FIGURE = re.compile(r"<(figure|figcaption)\b.*?</\1\s*>", re.S | re.I)
_MORE_MARK = re.compile(r"\s*\[(?:…|\.\.\.|&hellip;)\]\s*$")


class PostError(ValueError):
    """The object is not a post at all (the API answered something else)."""


@dataclass
class Mapped:
    """A post's reading: its article (or the reason it is none) and where
    each field came from."""

    post_id: int
    items: list[Article | Reject] = field(default_factory=list)
    withdraw: bool = False  # no longer public: take out what was stored
    trail: list[tuple[str, str, str]] = field(default_factory=list)  # field, origin, value
    modified: datetime | None = None


def post_id_of(post: object) -> int:
    if not isinstance(post, Mapping):
        raise PostError(f"a post is a JSON object, got {type(post).__name__}")
    value = post.get("id")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PostError(f"a post without a numeric id ({value!r})")
    return value


def map_post(post: Mapping[str, Any], article_id: str, source: str, ctx: FileContext) -> Mapped:
    """The article of ``post`` (its ``Article.source`` is ``source``); rejects
    carry ``ctx.source``, the post's own key."""
    mapped = Mapped(post_id_of(post))
    note = mapped.trail.append
    note(("id", "id", f"{article_id} (post {mapped.post_id})"))
    link = _url(post.get("link"))
    mapped.modified = _gmt(post.get("modified_gmt"))
    where = link or f"post {mapped.post_id}"
    if _protected(post, "content") or _protected(post, "excerpt"):
        mapped.items.append(ctx.reject(f"{where}: password-protected, its text is not public"))
        mapped.withdraw = True
        note(("", "REJECTED", "password-protected"))
        return mapped

    title = plain(_rendered(post, "title"))
    note(("title", "title.rendered, entities decoded", title))
    if not title:
        mapped.items.append(ctx.reject(f"{where}: the post has no title"))
        note(("", "REJECTED", "no title"))
        return mapped
    content = clean_content(_rendered(post, "content"))
    note(("content", "content.rendered, sanitised", f"{len(content)} characters"))
    summary, origin = _summary(_rendered(post, "excerpt"), link, content)
    note(("summary", origin, summary))

    published = _gmt(post.get("date_gmt"))
    modified = mapped.modified
    if published is None and modified is None:
        mapped.items.append(ctx.reject(f"{where}: neither date_gmt nor modified_gmt is a date"))
        note(("", "REJECTED", "no date"))
        return mapped
    published_from = "date_gmt, as UTC" if published else "modified_gmt (no date_gmt)"
    updated_from = "modified_gmt, as UTC" if modified else "date_gmt (no modified_gmt)"
    published = published or modified
    assert published is not None
    updated = max(modified or published, published)
    note(("published", published_from, published.isoformat()))
    note(("updated", updated_from, updated.isoformat()))
    note(("url", "link" if link else "- (no link)", link or ""))

    embedded = post.get("_embedded")
    embedded = embedded if isinstance(embedded, Mapping) else {}
    author = _author(embedded)
    note(("author", "_embedded.author[0].name" if author else "-", author or ""))
    image = _image(embedded, link or ctx.settings.site_url)
    if image is not None:
        size = f" {image.width}x{image.height}" if image.width and image.height else ""
        note(("image", f"_embedded.wp:featuredmedia ({image.size})", f"{image.url}{size}"))
        note(("image_alt", "alt_text", image.alt))
    else:
        note(("image", "-", "no featured image"))
    names = _terms(embedded, note)
    vocabulary = ctx.settings.vocabulary
    texts = [title, summary, *html_paragraphs(content)] if vocabulary.entries else []
    fields = Fields(
        id=article_id,
        title=title,
        summary=summary,
        content=content,
        author=author,
        url=link,
        image=image.url if image else None,
        tags=tags_for(names, texts, vocabulary),
        published=published,
        updated=updated,
        published_given=True,
        updated_given=True,
        image_width=image.width if image else None,
        image_height=image.height if image else None,
        image_alt=image.alt if image else "",
    )
    for item in assemble(fields, ctx, None):
        if isinstance(item, Article):
            item = replace(item, source=source)  # its key is the post's; its source the site
            for tag in item.tags:
                if tag.name not in names:
                    note(("tag", "the tag vocabulary, from the text", tag.name))
        mapped.items.append(item)
    return mapped


def _rendered(post: Mapping[str, Any], name: str) -> str:
    value = post.get(name)
    if isinstance(value, Mapping):
        value = value.get("rendered")
    return value if isinstance(value, str) else ""


def _protected(post: Mapping[str, Any], name: str) -> bool:
    value = post.get(name)
    return isinstance(value, Mapping) and value.get("protected") is True


def _gmt(value: object) -> datetime | None:
    """A ``*_gmt`` field: UTC, written without an offset."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        return None
    return value


def _same_page(href: str, link: str | None) -> bool:
    if not link:
        return False
    a, b = urlsplit(urljoin(link, href)), urlsplit(link)
    return (a.netloc, a.path.rstrip("/"), a.query) == (b.netloc, b.path.rstrip("/"), b.query)


def _summary(excerpt: str, link: str | None, content: str) -> tuple[str, str]:
    """The summary and where it came from: the excerpt without its "continue
    reading" link, else the content's first paragraph (never a caption)."""
    text = ""
    if excerpt.strip():
        dropped = False
        try:
            root = lxml.html.fragment_fromstring(excerpt, create_parent="div")
        except (etree.ParserError, ValueError):
            root = None
        if root is not None:
            for anchor in list(root.iter("a")):
                classes = (anchor.get("class") or "").split()
                if "more-link" in classes or _same_page(anchor.get("href") or "", link):
                    anchor.drop_tree()
                    dropped = True
            excerpt = lxml.html.tostring(root, encoding="unicode")
        text = plain(_MORE_MARK.sub("…", plain(excerpt)))
        if text:
            note = "excerpt.rendered, entities decoded"
            return text, note + ("; its continue-reading link dropped" if dropped else "")
    lead = html_paragraphs(_FIGURE.sub(" ", content))
    return (plain(lead[0]), "the content's first paragraph (no excerpt)") if lead else ("", "-")


def _author(embedded: Mapping[str, Any]) -> str | None:
    authors = embedded.get("author")
    if isinstance(authors, Sequence) and authors and isinstance(authors[0], Mapping):
        name = authors[0].get("name")
        if isinstance(name, str):
            return plain(name) or None
    return None


@dataclass(frozen=True)
class _Image:
    url: str
    width: int | None
    height: int | None
    alt: str
    size: str


def _pixels(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _image(embedded: Mapping[str, Any], base: str) -> _Image | None:
    found = embedded.get("wp:featuredmedia")
    if not (isinstance(found, Sequence) and found and isinstance(found[0], Mapping)):
        return None
    media = found[0]
    if "code" in media or media.get("media_type", "image") != "image":
        return None  # an error object (private media), or not a picture
    alt = plain(media.get("alt_text") or "") if isinstance(media.get("alt_text"), str) else ""
    details = media.get("media_details")
    details = details if isinstance(details, Mapping) else {}
    sizes = details.get("sizes")
    sizes = sizes if isinstance(sizes, Mapping) else {}
    for size in IMAGE_SIZES:
        chosen = sizes.get(size)
        if size == "full" and not isinstance(chosen, Mapping):
            chosen = {
                "source_url": media.get("source_url"),
                "width": details.get("width"),
                "height": details.get("height"),
            }
        if isinstance(chosen, Mapping):
            url = _url(urljoin(base, str(chosen.get("source_url") or "")))
            if url:
                return _Image(
                    url, _pixels(chosen.get("width")), _pixels(chosen.get("height")), alt, size
                )
    return None


def _terms(embedded: Mapping[str, Any], note: Any) -> list[str]:
    names: list[str] = []
    groups = embedded.get("wp:term")
    if not isinstance(groups, Sequence):
        return names
    for group in groups:
        if not isinstance(group, Sequence):
            continue
        for term in group:
            if not isinstance(term, Mapping) or term.get("taxonomy") not in TAXONOMIES:
                continue
            name = plain(str(term.get("name") or ""))
            kind = "category" if term["taxonomy"] == "category" else "tag"
            if not name:
                continue
            if kind == "category" and name.casefold() in PLACEHOLDER_CATEGORIES:
                note(("tag", "DROPPED: WordPress's placeholder category", name))
                continue
            names.append(name)
            note(("tag", f"_embedded.wp:term ({kind})", name))
    return names
