"""Scraped pages (``*.txt``): the whole page as UTF-8 text, site chrome
and all. ``layout.classify`` says what each line is; this module turns
that into an article.

* A page's content is *all* its paragraphs, so it starts with the lead
  (which is also the summary) exactly once; the teaser copy is dropped.
* A page ends at الوسوم, at an end-of-article widget (``END_MARKERS``), at
  a copyright or policy line, or at a list of related headlines that no
  article text follows: what follows is the site's, never article text.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from pathlib import Path

from feedpub.ingest.article import Fields, assemble, clean_paragraphs, nfc, plain, tags_for
from feedpub.ingest.chrome import (
    DEFAULT_CHROME_LINES,
    FOOTER_MARKERS,
    SourceLines,
    chrome_keys,
)
from feedpub.ingest.context import FileContext
from feedpub.ingest.layout import Line, PageContext, Role, classify, ends_sentence
from feedpub.ingest.shapes import DATELINE_REASON, hashtags
from feedpub.model import Article, Reject

__all__ = [
    "DEFAULT_CHROME_LINES",
    "FOOTER_MARKERS",
    "chrome_keys",
    "ends_sentence",
    "explain",
    "page_lines",
    "parse_page",
]

# Tags on one line: «سياسة، اقتصاد» or «5G, دمشق» (a comma inside 1,000 is not a separator).
_TAG_SPLIT = re.compile(r"\s*(?:،|,(?=\s))\s*")
_INLINE_TAG_SPLIT = re.compile(r"\s*(?:،|,(?=\s)|[|·•])\s*|\s+[-–—]\s+")
# The label of tags on one line, as written (``layout`` matched it normalised).
_TAG_LABEL = re.compile(
    r"^\s*(?:ال)?(?:وسوم|كلمات\s+(?:ال)?(?:مفتاحي[ةه]|دلالي[ةه]))\s*:\s*|^\s*tags\s*:\s*",
    re.IGNORECASE,
)
_PARAGRAPH_ROLES = (Role.PARAGRAPH, Role.JOINED)
_NOTHING_LEARNED = SourceLines()


def page_lines(text: str, ctx: FileContext, texts: list[str] | None = None) -> list[Line]:
    """``texts``: ``chrome.page_texts(text)`` when the caller has it already."""
    settings = ctx.settings
    page = PageContext(
        chrome=settings.chrome,
        source=ctx.lines or _NOTHING_LEARNED,
        tz=settings.tz,
        mtime=ctx.mtime,
    )
    return classify(text, page, texts)


def explain(text: str, ctx: FileContext) -> list[str]:
    """One line per page line: number, role, why, text (``ingest --explain``)."""
    return [
        f"{line.lineno:>4}  {line.role.value:<10}  {line.text}"
        + (f"  [{line.reason}]" if line.reason else "")
        for line in page_lines(text, ctx)
    ]


def parse_page(
    text: str, path: Path, ctx: FileContext, texts: list[str] | None = None
) -> list[Article | Reject]:
    """A scraped page -> Article, built from ``page_lines``: the TITLE line,
    the PARAGRAPH lines (with the JOINED ones appended), the TAG lines, the
    first publication date a DATE or BYLINE line gives after the headline
    (else before it; else the first update date), the first update date
    («آخر تحديث») as ``updated``, and the author a byline names."""
    lines = page_lines(text, ctx, texts)
    for line in lines:
        if line.role is Role.BAD_DATE:
            return [ctx.reject(line.reason, f"line {line.lineno}")]
    titles = [line for line in lines if line.role is Role.TITLE]
    if not titles:
        return [ctx.reject("no title: the page holds only site chrome")]
    title = plain(titles[0].text)
    if not title:
        return [ctx.reject("no title")]
    paragraphs: list[str] = []
    for line in lines:
        if line.role is Role.PARAGRAPH:
            paragraphs.append(line.text)
        elif line.role is Role.JOINED:
            paragraphs[-1] = f"{paragraphs[-1]} {line.text}"
    if not paragraphs:
        return [ctx.reject("no article text after the title")]
    page_tags = [
        part
        for line in lines
        if line.role is Role.TAG
        for part in _tag_items(line.text)
        if part.strip()
    ]
    # The article's own dates follow its headline; one above it is the
    # site's (today's date in the top bar), used only when no other is given.
    at = titles[0].lineno
    in_order = lines[at:] + lines[:at]
    published = _first_date([line.date for line in in_order])
    updated = _first_date([line.updated for line in in_order])
    published = published or updated
    summary = plain(paragraphs[0])
    content = clean_paragraphs(paragraphs)
    tags = tags_for(page_tags, [title, *paragraphs], ctx.settings.vocabulary)
    fields = Fields(
        id=nfc(path.stem),
        title=title,
        summary=summary,
        content=content,
        author=_author(lines),
        url=None,
        image=None,
        tags=tags,
        published=published or ctx.mtime,
        # Not the mtime when the page is dated: a fresh checkout or copy sets
        # every mtime to "now", and feeds would differ from machine to
        # machine. An edit still moves ``updated``: the store sets it to the
        # time it sees the changed content.
        updated=max(updated or published or ctx.mtime, published or ctx.mtime),
        published_given=published is not None,
        updated_given=updated is not None,
    )
    return assemble(fields, ctx, None)


def _first_date(dates: list[datetime | None]) -> datetime | None:
    """The first date given; when it has no time (midnight) and a later
    line gives the same day with one («الأحد 29 نوفمبر 2026» above «نشر
    في: 29/11/2026 09:30»), that one."""
    given = [d for d in dates if d is not None]
    if not given:
        return None
    first = given[0]
    if first.time() == time():
        return next((d for d in given[1:] if d.date() == first.date()), first)
    return first


def _author(lines: list[Line]) -> str | None:
    """The name of the first byline («كتب: …», «بقلم …», a dateline above
    the text: «مصر - السودان» amid it is a caption's), else of the first
    source credit («المصدر: …»)."""
    credit: str | None = None
    in_text = False
    for line in lines:
        in_text = in_text or line.role is Role.PARAGRAPH
        if line.author is None:
            continue
        if line.role is Role.BYLINE:
            if in_text and line.reason.startswith(DATELINE_REASON):
                continue
            return plain(line.author) or None
        if line.role is Role.CREDIT and credit is None:
            credit = line.author
    return plain(credit) or None if credit else None


def _tag_items(text: str) -> list[str]:
    """A tag line's tags: «سياسة، اقتصاد» or «5G, دمشق»; after a label
    («الوسوم: مصر | اقتصاد») «|», «·» and a spaced «-» separate them too;
    hashtags «#النفط #البصرة» are tags each."""
    tagged = hashtags(text)
    if tagged is not None:
        return tagged
    label = _TAG_LABEL.match(text)
    if label is None:
        return _TAG_SPLIT.split(text)
    return _INLINE_TAG_SPLIT.split(text[label.end() :])
