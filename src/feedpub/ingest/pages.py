"""Scraped pages (``*.txt``): the whole page as UTF-8 text, site chrome
and all. See ``parse_page`` for the rules.

* A page's content is *all* its paragraphs, so it starts with the lead
  (which is also the summary) exactly once; the teaser copy is dropped.
* A page ends at الوسوم or at an end-of-article widget (``FOOTER_MARKERS``):
  what follows is related links and popups, never article text.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from feedpub.ingest.article import Fields, assemble, clean_content, nfc, plain, tags_for
from feedpub.ingest.context import FileContext
from feedpub.ingest.dates import DateError, find_page_date
from feedpub.model import Article, Reject
from feedpub.text.arabic import collapse_ws, compare_key, is_blank, strip_xml_illegal, tag_key
from feedpub.text.sanitize import paragraphs_to_html

# Lines of site chrome (navigation, share buttons, widgets) that scraped pages
# carry around the article. Compared after whitespace is collapsed, in
# ``tag_key`` form. ``ingest.chrome_lines`` in the config adds to these.
DEFAULT_CHROME_LINES: tuple[str, ...] = (
    "أخبار",
    "أخر الأخبار",
    "آخر الأخبار",
    "الرئيسية",
    "الصفحة الرئيسية",
    "الوسوم",
    "اظهر المزيد",
    "أظهر المزيد",
    "إظهار المزيد",
    "عرض المزيد",
    "اقرأ أيضا",
    "اقرأ أيضاً",
    "مقالات ذات صلة",
    "أخبار ذات صلة",
    "زر الذهاب إلى الأعلى",
    "العودة إلى الأعلى",
    "شارك",
    "شارك الخبر",
    "مشاركة",
    "فيسبوك",
    "تويتر",
    "واتساب",
    "تيليغرام",
    "لينكدإن",
    "طباعة",
    "أصابات",
    "إصابات",
    "رسالة",
    "إغلاق",
    "بحث",
    "محليات",
    "سياسة",
    "اقتصاد",
    "رياضة",
    "ثقافة",
    "منوعات",
    "دولي",
    "عربي ودولي",
    "Facebook",
    "Twitter",
    "WhatsApp",
    "Telegram",
)

TAGS_MARKER = "الوسوم"
# Widgets that only ever follow the article; everything after them is dropped.
FOOTER_MARKERS: tuple[str, ...] = (
    TAGS_MARKER,
    "مقالات ذات صلة",
    "أخبار ذات صلة",
    "زر الذهاب إلى الأعلى",
    "العودة إلى الأعلى",
)
# The repeat of the title (teaser, then the article) must come this soon.
TEASER_WINDOW = 4
# A paragraph ending like this ends a sentence; any other is joined with the
# next one (pages are broken mid-sentence by blank lines). Closing quotes and
# brackets may follow the punctuation.
_SENTENCE_END = re.compile("[.!?…؟!:۔][\"'”’»)\\]]*$")


def ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text.rstrip()))


@lru_cache(maxsize=16)
def chrome_keys(extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The built-in chrome lines plus ``extra``, normalised (so أظهر/اظهر or
    a stray diacritic still match)."""
    return frozenset(tag_key(line) for line in (*DEFAULT_CHROME_LINES, *extra)) - {""}


_FOOTER_KEYS = frozenset(tag_key(marker) for marker in FOOTER_MARKERS)
_TAGS_KEY = tag_key(TAGS_MARKER)


def parse_page(text: str, path: Path, ctx: FileContext) -> list[Article | Reject]:
    """A scraped page -> Article.

    Lines of site chrome are dropped (compared normalised). The first
    remaining line is the title; a date line (a date with at most a time and
    a few label words) gives ``published``. If the title stands again within
    the next few lines, what lies between is the teaser and is dropped.
    Lines are paragraphs; one that ends without sentence-final punctuation
    is joined with the next. Duplicate paragraphs are dropped. Non-chrome
    lines after الوسوم, up to the next chrome line, are tags. The page ends
    at الوسوم or another footer marker.
    """
    settings = ctx.settings
    body: list[str] = []
    page_tags: list[str] = []
    published: datetime | None = None
    in_tags = False
    in_footer = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = collapse_ws(strip_xml_illegal(raw))
        if is_blank(line):
            continue
        key = tag_key(line)
        if body and key in _FOOTER_KEYS:
            in_footer = True
            in_tags = key == _TAGS_KEY and not page_tags
            continue
        if key in settings.chrome:
            in_tags = False
            continue
        if in_tags:
            page_tags.extend(part for part in re.split("[،,]", line) if part.strip())
            continue
        if in_footer:
            continue
        try:
            found = find_page_date(line, settings.tz)
        except DateError as exc:
            return [ctx.reject(str(exc), f"line {lineno}")]
        if found is not None:
            published = published or found.value
            continue
        body.append(line)

    if not body:
        return [ctx.reject("no title: the page holds only site chrome")]
    title = plain(body[0])
    if not title:
        return [ctx.reject("no title")]
    paragraphs = _page_paragraphs(body[0], body[1:])
    if not paragraphs:
        return [ctx.reject("no article text after the title")]
    summary = plain(paragraphs[0])
    content = clean_content(paragraphs_to_html(paragraphs))
    tags = tags_for(page_tags, [title, *paragraphs], settings.vocabulary)
    fields = Fields(
        id=nfc(path.stem),
        title=title,
        summary=summary,
        content=content,
        author=None,
        url=None,
        image=None,
        tags=tags,
        published=published or ctx.mtime,
        # Not the mtime when the page is dated: a fresh checkout or copy sets
        # every mtime to "now", and feeds would differ from machine to
        # machine. An edit still moves ``updated``: the store sets it to the
        # time it sees the changed content.
        updated=published or ctx.mtime,
        published_given=published is not None,
        updated_given=False,
    )
    return assemble(fields, ctx, None)


def _page_paragraphs(title: str, lines: list[str]) -> list[str]:
    title_key = compare_key(title)
    for index, line in enumerate(lines[:TEASER_WINDOW]):
        if compare_key(line) == title_key:
            lines = lines[index + 1 :]  # drop the teaser and the repeated title
            break
    paragraphs: list[str] = []
    for line in lines:
        if compare_key(line) == title_key:
            continue
        if paragraphs and not ends_sentence(paragraphs[-1]):
            paragraphs[-1] = f"{paragraphs[-1]} {line}"
        else:
            paragraphs.append(line)
    unique: list[str] = []
    seen: set[str] = set()
    for paragraph in paragraphs:
        key = compare_key(paragraph)
        if key not in seen:
            seen.add(key)
            unique.append(paragraph)
    return unique
