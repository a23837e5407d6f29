"""Site chrome: the built-in seed list, and the lines a source's own pages
repeat (learned per source folder in one pass before its pages are parsed).

One folder of scraped pages is one site, and a site repeats its chrome
(nav, section list, share bar, "most read" box, footer) on every page while
the article differs. Measured on the fidelity corpus (tests/fixtures/pages,
6 sites of 7 pages): chrome lines stand on 6 or 7 of a site's 7 pages,
article lines on 1; between them (2-5 pages) stand only bylines
(«كتب: …», «متابعة: …»), section breadcrumbs, «الوسوم» and tags that are
also sections («اقتصاد»). Hence the rule: a line standing on at least
``max(3, 30%)`` of a folder's pages is chrome. The floor of 3 keeps two
pages that share a breadcrumb or a tag from making it chrome; the share
keeps the rule meaningful on big folders (a "most read" box changes from
week to week, but still stands on hundreds of pages). A byline is read
before this filter (it names the author however often it repeats), and so
are tags. A folder of fewer than ``MIN_PAGES`` pages learns nothing: the
seed list and the shapes of ``shapes`` alone apply, and they must suffice.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from feedpub.ingest.shapes import RELATED_HEADERS, is_related_item
from feedpub.text.arabic import (
    collapse_ws,
    is_collapsed,
    lines_collapsed,
    strip_xml_illegal,
    tag_key,
)

TAGS_MARKER = "الوسوم"
# Labels of a tag block (the tags on the lines after it, or after a colon on
# the same line: «الوسوم: مصر، اقتصاد»).
TAGS_MARKERS: tuple[str, ...] = (
    TAGS_MARKER,
    "وسوم",
    "كلمات مفتاحية",
    "الكلمات المفتاحية",
    "كلمات دلالية",
    "الكلمات الدلالية",
)
# Widgets that only ever follow the article: after the title, they end it.
END_MARKERS: tuple[str, ...] = (
    *TAGS_MARKERS,
    "النشرة البريدية",
    "زر الذهاب إلى الأعلى",
    "العودة إلى الأعلى",
)
# Headers of a list of other articles' headlines («مقالات ذات صلة»): the
# list is left out and what follows it is read again (the article goes on
# after a box set in it, or the page ends). ``shapes.RELATED_HEADERS`` has
# the rest of them («اقرأ أيضاً», «قد يهمك» …).
BLOCK_MARKERS: tuple[str, ...] = (
    "مقالات ذات صلة",
    "أخبار ذات صلة",
    "الأكثر قراءة",
    "الأكثر مشاهدة",
)
FOOTER_MARKERS: tuple[str, ...] = (*END_MARKERS, *BLOCK_MARKERS)
# A "show more" button closes a tag block as a blank line does.
MORE_MARKERS: tuple[str, ...] = ("اظهر المزيد", "أظهر المزيد", "إظهار المزيد", "عرض المزيد")

# Lines of site chrome (navigation, share buttons, widgets) that scraped pages
# carry around the article. Compared after whitespace is collapsed, in
# ``tag_key`` form. ``ingest.chrome_lines`` in the config adds to these.
DEFAULT_CHROME_LINES: tuple[str, ...] = (
    "أخبار",
    "أخر الأخبار",
    "آخر الأخبار",
    "الرئيسية",
    "الصفحة الرئيسية",
    "اقرأ أيضا",
    "اقرأ أيضاً",
    "شارك",
    "شارك الخبر",
    "شارك هذا المقال",
    "نسخ الرابط",
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
    "LinkedIn",
    "X",
    "إعلان",
    "محتوى إعلاني",
    "محتوى مدعوم",
    "تابعنا",
    "تابعونا",
    # The end-of-article widgets and "show more" buttons are chrome too.
    *FOOTER_MARKERS,
    *MORE_MARKERS,
)


# The learning rule (see the module docstring).
MIN_PAGES = 3
MIN_SHARE = 0.30


def line_key(line: str) -> str:
    return tag_key(collapse_ws(line))


@lru_cache(maxsize=16)
def chrome_keys(extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The built-in chrome lines plus ``extra``, normalised (so أظهر/اظهر or
    a stray diacritic still match)."""
    return frozenset(line_key(line) for line in (*DEFAULT_CHROME_LINES, *extra)) - {""}


def _with_colons(keys: Iterable[str]) -> frozenset[str]:
    """``keys`` and each with the colon a marker may carry («الوسوم:»)."""
    return frozenset(f"{key}{colon}" for key in keys for colon in ("", ":", " :"))


END_KEYS = _with_colons(line_key(marker) for marker in END_MARKERS)
# Every marker that ends an article or heads a list after it (``html_body``
# ends an HTML page's text at them).
FOOTER_KEYS = frozenset(line_key(marker) for marker in FOOTER_MARKERS)
MORE_KEYS = frozenset(line_key(marker) for marker in MORE_MARKERS)
TAGS_KEYS = _with_colons(line_key(marker) for marker in TAGS_MARKERS)


def page_texts(text: str) -> list[str]:
    """``[collapse_ws(strip_xml_illegal(line)) for line in text.splitlines()]``:
    the form learning, the parse key and the classifier all read, made once
    per page and shared. Cut after each "\n" first (always the end of a line,
    so ``splitlines`` of the pieces is that of the text): a piece that
    ``is_collapsed`` (nearly all) is one line as it stands, any other goes
    through ``splitlines`` and both steps."""
    pieces = text.split("\n")
    tail = pieces.pop()  # after the last "\n": no line when empty
    if lines_collapsed(text):  # nearly every page: each piece is a line as it is
        if tail:
            pieces.append(tail)
        return pieces
    out: list[str] = []
    for piece in pieces:
        if is_collapsed(piece):
            out.append(piece)
        else:
            out.extend(_slow_lines(piece + "\n"))
    if tail:
        out.extend([tail] if is_collapsed(tail) else _slow_lines(tail))
    return out


def _slow_lines(text: str) -> list[str]:
    return [collapse_ws(strip_xml_illegal(line)) for line in text.splitlines()]


@dataclass(frozen=True)
class SourceLines:
    """How many pages of one source folder each line stands on, by the hash
    of the line with whitespace collapsed (a hash: the counts of a big folder
    stay small). Not the Arabic-normalised key: a site repeats its chrome
    byte for byte, and normalising every line in this pass too would cost
    a third of ingest's speed."""

    pages: int = 0
    counts: Counter[int] = field(default_factory=Counter)
    # ``threshold``, worked out once: ``repeats`` is asked for every line.
    _threshold: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        threshold = 0
        if self.pages >= MIN_PAGES:
            threshold = max(MIN_PAGES, math.ceil(MIN_SHARE * self.pages))
        object.__setattr__(self, "_threshold", threshold)

    @property
    def threshold(self) -> int:
        """Pages a line must stand on to be chrome; 0 when nothing is learned."""
        return self._threshold

    def repeats(self, line: str) -> int:
        """On how many pages ``line`` (whitespace collapsed) stands, when that
        makes it chrome; else 0."""
        threshold = self._threshold
        if not threshold:
            return 0
        count = self.counts.get(hash(line), 0)
        return count if count >= threshold else 0

    def chrome_only(self) -> SourceLines:
        """The same answers (``threshold``, ``repeats``) from the counts of
        the chrome lines alone: a few dozen, not one per line of the folder,
        so cheap to hand to a worker process. Hashes, like the counts: only
        a process forked from this one (same ``hash`` salt) may ask it."""
        threshold = self._threshold
        kept = {h: n for h, n in self.counts.items() if n >= threshold} if threshold else {}
        return SourceLines(pages=self.pages, counts=Counter(kept))


def _spellings(header: str) -> set[str]:
    """``header`` as pages write it: any alef form where it has one, ة or
    ه, ى or ي, a final alef's tanween after it, before it or none, and
    with or without a colon."""
    forms = {"ا": "اأإ", "أ": "اأإ", "إ": "اأإ", "آ": "آا", "ة": "ةه", "ى": "ىي"}
    out = {""}
    for word in header.replace("\u064b", "").split(" "):
        spelled = {""}
        for ch in word:
            spelled = {done + alt for done in spelled for alt in forms.get(ch, ch)}
        if word.endswith("ا"):
            spelled |= {w + "\u064b" for w in spelled} | {w[:-1] + "\u064bا" for w in spelled}
        out = {f"{done} {w}" if done else w for done in out for w in spelled}
    return {spelling + colon for spelling in out for colon in ("", ":", " :")}


# The lines that head a related-articles list, as written (a header with
# diacritics is missed here, and only here: ``layout`` reads lines
# normalised). A page's lines meet this set in one C-level intersection.
_HEADER_LINES = frozenset(s for header in RELATED_HEADERS for s in _spellings(header))


def counted_lines(page: str) -> set[str]:
    """The distinct lines of a page that count towards learning, which are
    all but the headlines listed under a related-articles header («الأكثر
    قراءة»): those are other pages' titles, and a popular article listed on
    many pages must not become chrome on its own page. The lists are found
    as ``layout`` finds them."""
    texts = page_texts(page)
    lines = set(texts)
    lines.discard("")
    # Most pages have none or one, found in C; a header twice on a page
    # (rare) has its first list left out only.
    for header in lines & _HEADER_LINES:
        lines.difference_update(_listed_after(texts, texts.index(header)))
    return lines


def _listed_after(texts: list[str], header: int) -> list[str]:
    """The headlines under the header at ``header`` (``layout._related_blocks``
    without its chrome checks: an item that is chrome anyway may stay out)."""
    items: list[str] = []
    compact = header + 1 < len(texts) and bool(texts[header + 1])
    for k in range(header + 1, len(texts)):
        line = texts[k]
        if not line:
            if compact:
                break
            continue
        if not is_related_item(line, line.count(" ") + 1):
            break
        items.append(line)
    return items


def line_hashes(texts: Iterable[str]) -> tuple[int, list[int]]:
    """What ``count_lines`` counts, not counted: the number of pages and,
    flattened, the hashes of each page's distinct lines. A folder's pages
    can be read in shares (by worker processes) and merged (``merge_lines``)
    by a C-speed ``Counter.update``, where summing Counters is a Python loop."""
    hashes: list[int] = []
    pages = 0
    for text in texts:
        pages += 1
        hashes.extend(hash(line) for line in counted_lines(text))
    return pages, hashes


def merge_lines(shares: Iterable[tuple[int, list[int]]]) -> SourceLines:
    """``count_lines`` of a folder read in shares (``line_hashes``, each page
    in one share): the same counts."""
    counts: Counter[int] = Counter()
    pages = 0
    for share_pages, hashes in shares:
        pages += share_pages
        counts.update(hashes)
    return SourceLines(pages=pages, counts=counts)


def count_lines(texts: Iterable[str]) -> SourceLines:
    """One pass over a folder's pages: each distinct line counted once per
    page (``counted_lines``)."""
    counts: Counter[int] = Counter()
    pages = 0
    for text in texts:
        pages += 1
        counts.update(hash(line) for line in counted_lines(text))
    return SourceLines(pages=pages, counts=counts)
