"""The body of an HTML article page: trafilatura (the only module that
imports it) finds the article's blocks, then each block is judged the way
the scraped-page parser judges a line (the title again, chrome lines,
«اقرأ أيضاً» links, bylines, date lines, widgets after «الوسوم» or a
comments heading), so ``--explain`` can say why each one was dropped.

Measured on the Arabic corpus of ``tests/fixtures/html`` (its README,
``bench/html_fidelity.py``): trafilatura finds the article text of the
pages, including those held inside one ASP.NET ``<form>``, but lets
through ad labels, inline «اقرأ أيضاً» boxes, the headline again and, on
some layouts, comment and widget headings, and drops a paragraph written
as loose text after a picture's box; ``prepare`` and ``judge`` handle those.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

import lxml.html
import trafilatura
from lxml.html import HtmlElement

from feedpub.ingest.chrome import FOOTER_KEYS, line_key
from feedpub.ingest.dates import DateError, find_page_date
from feedpub.ingest.layout import byline_reason, is_read_also
from feedpub.text.arabic import collapse_ws, normalize_arabic

# trafilatura logs a page it cannot extract at WARNING; that page becomes a
# reject with its reason, and cron must stay silent.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

# The extractor's options. Comments off (they are the readers', not the
# article's); formatting, links and images kept, as the sanitiser allows
# them; precision mode, which on the corpus drops the comment and widget
# blocks balanced mode keeps and loses no paragraph (bench/html_fidelity.py).
OPTIONS: dict[str, bool | str] = {
    "output_format": "html",
    "include_comments": False,
    "include_formatting": True,
    "include_links": True,
    "include_images": True,
    "include_tables": True,
    "favor_precision": True,
    "deduplicate": False,
}

# Labels of ad slots: the box holding one is an ad, label and picture.
AD_LABELS = frozenset(
    line_key(label)
    for label in (
        "إعلان",
        "إعلانات",
        "اعلان",
        "مساحة إعلانية",
        "محتوى مدفوع",
        "محتوى ممول",
        "برعاية",
        "Advertisement",
        "Sponsored",
    )
)
# Headings that open the comments or a widget: the article ended before them.
END_MARKERS = FOOTER_KEYS | frozenset(
    line_key(marker)
    for marker in (
        "التعليقات",
        "تعليقات",
        "تعليقات القراء",
        "أضف تعليقك",
        "أضف تعليقاً",
        "اترك تعليقاً",
        "اترك تعليقا",
        "اترك رداً",
        "شارك المقال",
        "المزيد من الأخبار",
        "اقرأ المزيد",
    )
)
_COUNT = re.compile(r"\s*[(\[]?\s*[\d٠-٩]+\s*[)\]]?\s*$")  # «التعليقات (2)»
_DECORATION = re.compile(r"^[\s\-–—|•·:]+|[\s\-–—|•·:]+$")  # «- إعلان -»
_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table"})
_LISTS = frozenset({"ul", "ol", "dl"})


@dataclass(frozen=True)
class Block:
    """One block of the extracted body and what became of it."""

    kind: str  # p, h2, li, blockquote, img, ...
    text: str  # collapsed
    html: str  # the block's markup as extracted (a list item: its <li>)
    dropped: str | None = None  # why it is not in the content, or None
    list_tag: str | None = None  # ul/ol of a list item


def marker_key(text: str) -> str:
    return line_key(_COUNT.sub("", _DECORATION.sub("", text)))


# A class or id token naming the comments: "comments", "comment-respond",
# "fb-comments", "field--name-comment" (not "commentary").
_COMMENT_TOKEN = re.compile(r"^(?:.*[-_])?comments?(?:[-_].*)?$", re.I)


def prepare(root: HtmlElement) -> int:
    """Before extraction, what the extractor is known to get wrong: ad slots
    and the comments' boxes removed (``prune_ads``, ``prune_comments``),
    paragraphs written between ``<br>``s made ``<p>``s (``split_breaks``).
    Returns how many boxes were removed or rewritten."""
    return prune_ads(root) + prune_comments(root) + split_breaks(root)


def prune_comments(root: HtmlElement) -> int:
    """Remove elements whose class or id names the comments (the list,
    its form, "log in to comment" links). An element holding most of the
    page's text is kept whatever its name: it is the page's layout."""
    body = root.find("body")
    if body is None:
        return 0
    total = len(body.text_content())
    removed = 0
    for element in body.xpath(".//*[contains(@class, 'omment') or contains(@id, 'omment')]"):
        tokens = f"{element.get('class', '')} {element.get('id', '')}".split()
        if not any(_COMMENT_TOKEN.match(token) for token in tokens):
            continue
        if body not in element.iterancestors():  # inside a box removed already
            continue
        if len(element.text_content()) > total / 2:
            continue
        _remove(element)
        removed += 1
    return removed


def _remove(element: HtmlElement) -> None:
    """Remove ``element`` but keep its tail text (it belongs to the parent)."""
    element.drop_tree()


def prune_ads(root: HtmlElement) -> int:
    """Remove ad slots: an element whose whole text is an ad label, with
    the box around it when that box holds nothing else worth reading
    (the label's picture or script). Returns how many were removed."""
    removed = 0
    for text in root.xpath("//body//text()[normalize-space()]"):
        if len(text) > 40 or marker_key(str(text)) not in AD_LABELS:
            continue
        label = text.getparent()
        if label is None or getattr(text, "is_tail", False):
            continue
        box = label.getparent()
        target = label
        if box is not None and box.tag not in ("body", "html"):
            rest = collapse_ws(box.text_content()).replace(collapse_ws(str(text)), "", 1)
            if len(rest.strip()) < 40:
                target = box
        if target.getparent() is not None:
            _remove(target)
            removed += 1
    return removed


def extract(root: HtmlElement, url: str | None) -> HtmlElement | None:
    """trafilatura's body of the page, as an HTML ``<body>`` element (None
    when it finds nothing). ``root`` is not changed (trafilatura copies it)."""
    found = trafilatura.extract(root, url=url, **OPTIONS)  # type: ignore[arg-type]
    if not found:
        return None
    body = lxml.html.document_fromstring(found).find("body")
    if body is not None:
        paragraphs(body, recurse=True)
    return body


def split_breaks(root: HtmlElement) -> int:
    """Before extraction: a box whose text is written between ``<br>``s
    (Blogger's and older CMS editors: a paragraph ends with two) gets its
    paragraphs as ``<p>``s; the extractor drops loose text that follows a
    picture's box. Returns how many boxes were rewritten."""
    rewritten = 0
    for box in root.iter("div", "td", "section", "article", "blockquote", "center"):
        breaks = sum(1 for child in box if child.tag == "br")
        if breaks < 2:
            continue
        loose = (box.text or "") + "".join(child.tail or "" for child in box)
        if len(loose.strip()) >= MIN_LOOSE_CHARS:
            paragraphs(box, recurse=False)
            rewritten += 1
    return rewritten


# Loose text shorter than this in a box of <br>s is a caption or a label.
MIN_LOOSE_CHARS = 80
# Elements that flow inside a line of text (a loose run of them is one paragraph).
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "em", "font", "i", "kbd", "mark",
     "q", "s", "small", "span", "strong", "sub", "sup", "time", "u", "wbr"}
)  # fmt: skip
_CONTAINERS = frozenset({"body", "div", "section", "article", "main"})


def paragraphs(container: HtmlElement, *, recurse: bool) -> None:
    """Text standing loose in ``container`` (a paragraph left as the tail
    of a heading or a picture's box, or written between ``<br>``s) becomes
    ``<p>``s: a run of loose text and inline elements is one paragraph,
    and two ``<br>``s in a row end one. With ``recurse``, the boxes inside
    too."""
    items: list[HtmlElement | str] = [container.text or ""]
    for child in container:
        items.append(child)
        items.append(child.tail or "")
        child.tail = None
    container.text = None
    out: list[HtmlElement] = []
    run: list[HtmlElement | str] = []
    breaks = 0

    def close() -> None:
        while run and (run[-1] == "" or getattr(run[-1], "tag", None) == "br"):
            run.pop()
        if any(not isinstance(item, str) or item.strip() for item in run):
            paragraph = lxml.html.Element("p")
            for item in run:
                if isinstance(item, str):
                    if len(paragraph):
                        paragraph[-1].tail = (paragraph[-1].tail or "") + item
                    else:
                        paragraph.text = (paragraph.text or "") + item
                else:
                    paragraph.append(item)
            out.append(paragraph)
        run.clear()

    for item in items:
        if isinstance(item, str):
            if item.strip():
                breaks = 0
            run.append(item)
            continue
        tag = item.tag if isinstance(item.tag, str) else ""
        if tag == "br":
            breaks += 1
            if breaks >= 2:
                close()
            else:
                run.append(item)
        elif tag in _INLINE or not tag:
            breaks = 0
            run.append(item)
        else:
            close()
            breaks = 0
            if recurse and tag in _CONTAINERS:
                paragraphs(item, recurse=True)
            elif recurse and tag == "p" and sum(1 for c in item if c.tag == "br") >= 2:
                paragraphs(item, recurse=False)  # <p>a<br><br>b</p>: a <p> each
                out.extend(item)
                continue
            out.append(item)
    close()
    for child in list(container):
        container.remove(child)
    container.extend(out)


def judge(
    body: HtmlElement, title: str, chrome: frozenset[str], tz: tzinfo, mtime: datetime
) -> list[Block]:
    """Every block of ``body`` in order, with why it is dropped (or not)."""
    title_key = line_key(title)
    ended: str | None = None
    out: list[Block] = []
    for kind, element, list_tag in _units(body):
        text = collapse_ws(element.text_content())
        _trim(element)
        markup = lxml.html.tostring(element, encoding="unicode", with_tail=False)
        if kind == "h1":
            kind = "h2"  # the page's headline is the title, never a content heading
        if ended is not None:
            reason: str | None = f"after «{ended}»: the article ended there"
        elif not text and kind != "img" and element.find(".//img") is None:
            reason = "empty"
        else:
            reason = _verdict(text, title_key, chrome, tz, mtime)
            if reason is not None and reason.startswith("ends"):
                ended = text
        out.append(Block(kind, text, markup, reason, list_tag))
    return out


def _trim(element: HtmlElement) -> None:
    """No white space at the start and end of a block (the page's
    indentation inside a ``<p>`` is not text)."""
    if element.text:
        element.text = element.text.lstrip()
    if len(element):
        last = element[-1]
        if last.tail:
            last.tail = last.tail.rstrip()
    elif element.text:
        element.text = element.text.rstrip()


def _verdict(
    text: str, title_key: str, chrome: frozenset[str], tz: tzinfo, mtime: datetime
) -> str | None:
    if not text:
        return None
    key = line_key(text)
    if key == title_key:
        return "the title again"
    marker = marker_key(text)
    if marker in END_MARKERS:
        return "ends the article: a widget, the tags or the comments follow"
    if marker in AD_LABELS:
        return "an ad label"
    if key in chrome:
        return "a built-in or configured chrome line"
    norm = normalize_arabic(text)
    if is_read_also(norm):
        return "a link to another article"
    reason = byline_reason(text, norm)
    if reason:
        return reason
    try:
        if find_page_date(text, tz, mtime) is not None:
            return "a date line"
    except DateError:
        return "a date line (not a real date)"
    return None


def _units(body: HtmlElement) -> Iterable[tuple[str, HtmlElement, str | None]]:
    """The blocks of the extracted body: its top-level elements, a list's
    items one by one, and the blocks inside a ``<div>`` the extractor kept."""
    for element in body:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _LISTS:
            for item in element:
                if isinstance(item.tag, str):
                    yield "li", item, tag
        elif tag in _BLOCKS or tag == "img":
            yield tag, element, None
        elif tag in ("div", "section", "article", "figure", "main"):
            yield from _units(element) if len(element) else [("p", element, None)]
        elif tag:
            yield "p", element, None


def content_html(blocks: list[Block]) -> str:
    """The kept blocks as one HTML fragment, list items back in their lists."""
    parts: list[str] = []
    open_list: str | None = None
    for block in blocks:
        if block.dropped is not None:
            continue
        if block.list_tag != open_list:
            if open_list:
                parts.append(f"</{open_list}>")
            if block.list_tag:
                parts.append(f"<{block.list_tag}>")
            open_list = block.list_tag
        markup = block.html
        if block.kind == "h2" and markup.startswith("<h1"):
            markup = "<h2" + markup[3:-5] + "</h2>"
        parts.append(markup)
    if open_list:
        parts.append(f"</{open_list}>")
    return "".join(parts)
