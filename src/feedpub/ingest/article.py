"""Assembling an ``Article`` from cleaned fields: plain text and HTML
cleaning, tags (with the vocabulary), length bounds, the content hash.

Shared by scraped pages and records, so both clean text the same way.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from feedpub.ingest.context import FileContext
from feedpub.model import Article, Reject, Tag
from feedpub.text.arabic import Vocabulary, collapse_ws, make_tag, strip_xml_illegal, tag_key
from feedpub.text.sanitize import clean_html, clean_paragraphs_html, strip_tags

# Article ids and tag keys are the store's keys: at most this many characters
# (PostgreSQL refuses longer ones, which would fail the whole batch).
MAX_KEY_CHARS = 255
ELLIPSIS = "…"


class RecordError(ValueError):
    """The input cannot become an article; the message is the reject reason."""


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def plain(text: str) -> str:
    """Plain text for title/summary/author: markup stripped, XML-illegal
    characters removed, whitespace collapsed, NFC."""
    return nfc(collapse_ws(strip_xml_illegal(strip_tags(strip_xml_illegal(text)))))


def clean_content(fragment: str) -> str:
    return nfc(strip_xml_illegal(clean_html(strip_xml_illegal(fragment)))).strip()


def clean_paragraphs(paragraphs: list[str]) -> str:
    """``clean_content(paragraphs_to_html(paragraphs))``, where nh3 runs only
    when it would change the escaped text (``clean_paragraphs_html``)."""
    safe = [strip_xml_illegal(p) for p in paragraphs]
    return nfc(strip_xml_illegal(clean_paragraphs_html(safe))).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with
    an ellipsis; a single overlong word is cut inside. Not a reject: an
    overlong title is still worth publishing, just not whole in a subject."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and text[limit - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ،,.؛;:") + ELLIPSIS


def tags_for(given: Sequence[str], texts: Sequence[str], vocabulary: Vocabulary) -> tuple[Tag, ...]:
    """Given tags (mapped to their vocabulary name when they are a name or an
    alias), then vocabulary tags found in ``texts``; deduplicated by key."""
    result: dict[str, Tag] = {}
    names = [vocabulary.canonical(_key(name)) or name for name in given]
    names.extend(vocabulary.matches("\n".join(texts)))
    for name in names:
        tag = _tag(name)
        if tag is not None and tag.key not in result:
            result[tag.key] = tag
    return tuple(result.values())


# A site has a few thousand tags, repeated over every article: each spelling
# is worked out once per run (an nh3 pass and a slug each). Names longer than
# this are not kept, so hostile input cannot fill the caches with big strings.
_CACHED_NAME_CHARS = 200


def _key(name: str) -> str:
    return _cached_key(name) if len(name) <= _CACHED_NAME_CHARS else tag_key(name)


def _tag(name: str) -> Tag | None:
    return _cached_tag(name) if len(name) <= _CACHED_NAME_CHARS else _make_tag(name)


def _make_tag(name: str) -> Tag | None:
    return make_tag(strip_tags(strip_xml_illegal(name)))


_cached_key = lru_cache(maxsize=8192)(tag_key)
_cached_tag = lru_cache(maxsize=8192)(_make_tag)


def long_tag(tags: Sequence[Tag]) -> str | None:
    for tag in tags:
        if len(tag.key) > MAX_KEY_CHARS:
            return f"tag {tag.name[:30]!r}... is longer than {MAX_KEY_CHARS} characters"
    return None


def content_hash(article: Article, *, published_given: bool, updated_given: bool) -> str:
    """sha256 of the fields a reader sees, and of the dates only where they
    come from the input rather than from the file's mtime."""
    fields = {
        "id": article.id,
        "title": article.title,
        "summary": article.summary,
        "content": article.content,
        "author": article.author,
        "url": article.url,
        "image": article.image,
        "tags": [[tag.key, tag.name] for tag in article.tags],
        # Only when the source gives them: an article without them keeps the
        # hash it had before they were read.
        **_image_details(article),
        "published": article.published.isoformat() if published_given else None,
        "updated": article.updated.isoformat() if updated_given else None,
    }
    blob = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _image_details(article: Article) -> dict[str, object]:
    details = {
        "image_width": article.image_width,
        "image_height": article.image_height,
        "image_alt": article.image_alt or None,
        "image_bytes": article.image_bytes,
    }
    return {key: value for key, value in details.items() if value is not None}


@dataclass(frozen=True)
class Fields:
    """An article's fields as read, before the bounds and the hash."""

    id: str
    title: str
    summary: str
    content: str
    author: str | None
    url: str | None
    image: str | None
    tags: tuple[Tag, ...]
    published: datetime
    updated: datetime
    published_given: bool
    updated_given: bool
    # What the source says of the image: pixels, alternative text, bytes.
    image_width: int | None = None
    image_height: int | None = None
    image_alt: str = ""
    image_bytes: int | None = None


def assemble(fields: Fields, ctx: FileContext, where: str | None) -> list[Article | Reject]:
    """The article, plus a note (a Reject at ``where``) when tags were
    dropped. Tags past ``ingest.max_tags`` are dropped rather than the
    article refused: the vocabulary alone can match many tags in a long
    article, and tags are the least important part of it."""
    problem = long_tag(fields.tags)
    if problem:
        return [ctx.reject(problem, where)]
    limits = ctx.settings.limits
    out: list[Article | Reject] = []
    tags = fields.tags
    if len(tags) > limits.max_tags:
        note = (
            f"{len(tags)} tags, more than ingest.max_tags ({limits.max_tags}): "
            f"kept the first {limits.max_tags}, the article is stored"
        )
        out.append(ctx.reject(note, where))
        tags = tags[: limits.max_tags]
    article = Article(
        id=fields.id,
        title=shorten(fields.title, limits.max_title_chars),
        summary=shorten(fields.summary, limits.max_summary_chars),
        content=fields.content,
        published=fields.published,
        updated=fields.updated,
        author=fields.author and shorten(fields.author, limits.max_title_chars),
        url=fields.url,
        image=fields.image,
        tags=tags,
        source=ctx.source,
        image_width=fields.image_width,
        image_height=fields.image_height,
        image_alt=fields.image_alt,
        image_bytes=fields.image_bytes,
    )
    digest = content_hash(
        article, published_given=fields.published_given, updated_given=fields.updated_given
    )
    out.insert(0, replace(article, content_hash=digest))
    return out
