"""What each line of a scraped page is: the parser's primary output, a list
of ``Line`` (text, role, reason). ``pages`` builds the article from it and
``feedpub ingest --explain`` prints it, so the two cannot disagree."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import NamedTuple

from feedpub.ingest.chrome import END_KEYS, MORE_KEYS, TAGS_KEYS, SourceLines, page_texts
from feedpub.ingest.dates import MAX_LINE_CHARS as _DATE_LINE_MAX_CHARS
from feedpub.ingest.dates import DateError, FoundDate, at_time, find_page_date, find_update_time
from feedpub.ingest.shapes import (
    LEGAL_MAX_WORDS,
    RELATED_LINE_KEYS,
    SHARE_MAX_WORDS,
    Byline,
    hashtags,
    is_nav,
    is_prose,
    is_related_item,
    legal_reason,
    photo_credit_reason,
    read_byline,
    share_reason,
)
from feedpub.text.arabic import is_blank, lines_collapsed, normalize_lines


class Role(StrEnum):
    BLANK = "blank"
    CHROME = "chrome"
    NAV = "nav"  # a navigation bar of short items between separators
    SHARE = "share"  # share buttons, copy-link, a call to follow the site
    LEGAL = "legal"  # copyright and policy links: after the title, the article ends
    BREADCRUMB = "breadcrumb"
    TITLE = "title"
    TEASER = "teaser"
    DATE = "date"
    BAD_DATE = "bad-date"
    PARAGRAPH = "paragraph"
    JOINED = "joined"  # continues the previous paragraph
    DUPLICATE = "duplicate"
    CAPTION = "caption"
    BYLINE = "byline"  # names the author
    CREDIT = "credit"  # a source or a helper («المصدر: …», «ترجمة: …»)
    READ_ALSO = "read-also"
    RELATED = "related"  # a related-articles header, or a headline listed under it
    TAG = "tag"


class Line(NamedTuple):
    """One page line (a tuple: some forty are made per page)."""

    lineno: int
    text: str
    role: Role
    reason: str
    date: datetime | None = None  # the publication date a DATE or BYLINE line gives
    updated: datetime | None = None  # the update date («آخر تحديث») it gives
    author: str | None = None  # the name a BYLINE or CREDIT line gives


# A paragraph ending like this ends a sentence; any other is joined with the
# next one (pages are broken mid-sentence by blank lines). Closing quotes and
# brackets may follow the punctuation.
_SENTENCE_PUNCT = ".!?…؟!:۔"
_CLOSERS = "\"'”’»)]"
# The headline is looked for among the first few headline-like lines, and
# its repeat (teaser, then article) within this many lines after it.
TITLE_CANDIDATES = 6
TEASER_WINDOW = 8
HEADLINE_MIN_WORDS = 3
HEADLINE_MAX_WORDS = 30
# A caption is a short noun phrase under an image; a paragraph broken
# mid-sentence is longer, or starts with the conjunction و as news prose does.
CAPTION_MAX_WORDS = 10
_READ_ALSO = re.compile(r"^(?:اقرا|طالع|شاهد)\s+(?:ايضا|كذلك|المزيد)\s*:|^ذات صله\s*:")
# A date line has a year (four digits of any script), or opens with a
# relative date («منذ ساعتين», «أمس الساعة 18:40») or a label before one
# («آخر تحديث: منذ ساعتين», «آخر تحديث: 06:50 م»): no other line is read.
_YEAR = re.compile(r"\d{4}")
_DATE_STARTS = (
    "منذ", "امس", "اليوم", "نشر", "منشور", "تاريخ النشر", "اخر تحديث", "تم التحديث",
    "تحديث", "التحديث", "محدث",
)  # fmt: skip
# ``text.arabic.compare_key`` from the normalised form already at hand (the
# test suite checks they agree): quotes and whitespace dropped, … as ...
_QUOTES = re.compile("[\"'“”„‟«»‘’‚‛′″]")


def _compare(norm: str) -> str:
    return "".join(_QUOTES.sub("", norm.replace("…", "...")).split())  # split(): \s, faster


def _keys_and_compares(norms: list[str]) -> tuple[list[str], list[str]]:
    """Per line, ``collapse_ws(norm)`` (the ``tag_key`` form the chrome lists
    hold) and ``_compare(norm)``. The replace and the regex run once over
    all lines (neither touches the "\n" joining them); when every norm
    is collapsed (nearly always: the lines were), the keys are the norms
    and the only whitespace the compare keys lose is the space."""
    if not norms:
        return [], []
    joined = "\n".join(norms)
    unquoted = _QUOTES.sub("", joined.replace("…", "..."))
    if not lines_collapsed(joined):
        keys = [" ".join(n.split()) for n in norms]
        return keys, ["".join(part.split()) for part in unquoted.split("\n")]
    return norms, unquoted.replace(" ", "").split("\n")


_CRUMB_SPLIT = re.compile(r"\s*(?:›|»|>|/|\\)\s*")


def ends_sentence(text: str) -> bool:
    r"""Sentence-final punctuation, maybe followed by closing quotes or
    brackets, at the end (the regex ``[.!?…؟!:۔]["'”’»)\]]*$`` read from
    the end: a regex search with ``$`` tries every position of the line)."""
    body = text.rstrip().rstrip(_CLOSERS)
    return bool(body) and body[-1] in _SENTENCE_PUNCT


# The separators ``_CRUMB_SPLIT`` splits at: a line with none is one part.
_CRUMB_ANY = re.compile(r"[›»>/\\]")


def is_breadcrumb(line: str) -> bool:
    if "«" in line:  # » closes a quote there
        return False
    if not _CRUMB_ANY.search(line):
        return False
    parts = [p for p in _CRUMB_SPLIT.split(line) if p]
    return len(parts) >= 2 and all(len(p.split()) <= 4 for p in parts)


def _words(line: str) -> int:
    """``len(line.split())`` for a collapsed line, as every page line is
    (``page_texts``): one space between words, without making the words."""
    return line.count(" ") + 1 if line else 0


def byline_reason(line: str, norm: str) -> str | None:
    """Why ``line`` (collapsed; ``norm``: its ``normalize_arabic`` form) is a
    byline, a credit or a photographer's credit, else None: the one question
    ``html_body`` asks of a block of an HTML page's text."""
    if not line or line[-1] in _FINAL:
        return None
    count = _words(line)
    found = read_byline(line, norm, count)
    if found is not None:
        return found.reason
    if norm.startswith(("تصوير", "الصوره")):  # «تصوير: …»: a credit too
        return photo_credit_reason(line, norm, count)
    return None


_READ_ALSO_STARTS = ("اقرا", "طالع", "شاهد", "ذات صله")


def is_read_also(norm: str) -> bool:
    # Both alternatives start with ^; the prefix test spares most lines the regex.
    return norm.startswith(_READ_ALSO_STARTS) and bool(_READ_ALSO.match(norm))


def reads_like_headline(line: str) -> bool:
    """``line`` collapsed."""
    return (
        HEADLINE_MIN_WORDS <= _words(line) <= HEADLINE_MAX_WORDS
        and not line.rstrip().endswith((".", ":", "،", ","))
        and not is_breadcrumb(line)
    )


def is_caption(line: str, next_norm: str | None, in_body: bool) -> bool:
    """Short and unpunctuated. Before the first paragraph that is enough.
    Amid the body such a line may instead be the first half of a sentence
    broken by a blank line, so it is a caption only when the next line
    opens a sentence (with و/ف or an opening particle such as أما, كما):
    a continuation seldom does. ``line`` collapsed."""
    if _words(line) > CAPTION_MAX_WORDS or ends_sentence(line):
        return False
    if not in_body:
        return True
    return next_norm is not None and opens_sentence(next_norm)


# Particles that open an Arabic sentence (``normalize_arabic`` form).
_OPENERS = frozenset(("اما", "كما", "لكن", "ولكن", "الا", "ثم", "بينما", "غير", "في", "من"))


def opens_sentence(norm: str) -> bool:
    first = norm.split(maxsplit=1)[0]
    return first.startswith(("و", "ف")) or first in _OPENERS


@dataclass(frozen=True)
class PageContext:
    """What classifying a page needs beyond its text."""

    chrome: frozenset[str]  # seed and configured chrome, ``line_key`` form
    source: SourceLines  # the lines this page's source folder repeats
    tz: tzinfo
    mtime: datetime


def classify(text: str, page: PageContext, texts: list[str] | None = None) -> list[Line]:
    """Every line of ``text`` with its role and why, in page order.
    ``texts``: ``chrome.page_texts(text)``, when the caller made it already."""
    if texts is None:
        texts = page_texts(text)
    if not "\n".join(texts).replace("\n", "x").isprintable():
        # Only then can a line be blank yet not empty (RLM-only): a
        # collapsed line of printable characters has a visible one.
        texts = ["" if t and is_blank(t) else t for t in texts]
    # Every per-line form is made once, for all lines in one call each
    # (``normalize_lines``): normalising is the cost of a page.
    norms = normalize_lines(texts)
    keys, cmps = _keys_and_compares(norms)
    words = [t.count(" ") + 1 if t else 0 for t in texts]  # ``_words`` of each
    # Lines whose role carries more than a reason (a date, an author), by index.
    made: dict[int, Line] = {}
    update_times: dict[int, tuple[int, int, int]] = {}
    for i, line in enumerate(texts):
        # A longer line is never a date line (``find_page_date``).
        if (
            line
            and len(line) <= _DATE_LINE_MAX_CHARS
            and (_YEAR.search(line) or norms[i].startswith(_DATE_STARTS))
        ):
            found = _date_line(i, line, page)
            if found is not None:
                made[i] = found
            elif "تحديث" in norms[i] and (clock := find_update_time(line)) is not None:
                update_times[i] = clock
    if update_times:
        _date_update_times(update_times, made, texts)
    related, list_ends = _related_blocks(texts, keys, words, page.chrome)

    known: dict[int, tuple[Role, str] | None] = {}

    def header_role(i: int) -> tuple[Role, str] | None:
        # Asked again for the same lines (finding the title, then the body).
        if i not in known:
            known[i] = _header_role(i)
        return known[i]

    def _header_role(i: int) -> tuple[Role, str] | None:
        """The role of a line that cannot be the headline, if it is one of those:
        by the page's own structure first (a related list, a date), then the
        lists, then the shapes, then what the folder's pages repeat."""
        if i in related:
            return related[i]
        if i in made:
            return made[i].role, made[i].reason
        line, norm, key, count = texts[i], norms[i], keys[i], words[i]
        if key in page.chrome:
            return Role.CHROME, "a built-in or configured chrome line"
        if is_breadcrumb(line):
            return Role.BREADCRUMB, "a breadcrumb (sections separated by › » > /)"
        ends = line[-1] in _FINAL
        # A sentence longer than a copyright line has no shape: prose, most lines.
        if not (ends and count > LEGAL_MAX_WORDS):
            shape = _shape_role(line, norm, key, count, ends)
            if shape is not None:
                return shape
        if not ends:
            byline = read_byline(line, norm, count)
            if byline is not None:
                found = _byline_line(i, line, byline, page)
                if found is not None:
                    made[i] = found
                    return found.role, found.reason
        repeats = page.source.repeats(line)
        if repeats:
            return Role.CHROME, f"repeats on {repeats} of {page.source.pages} pages of this source"
        if is_read_also(norm):
            return Role.READ_ALSO, "a link to another article"
        if not ends:
            reason = photo_credit_reason(line, norm, count)
            if reason:
                return Role.CAPTION, reason
        return None

    filled = [i for i, t in enumerate(texts) if t]
    title_at, repeat_at, title_reason = _find_title(filled, texts, keys, cmps, header_role)
    out: list[Line] = []
    state = "header"
    title_key = cmps[title_at] if title_at is not None else ""
    paragraphs: list[list[int]] = []  # indices into ``out``
    tags_read = False
    for i, line in enumerate(texts):
        lineno = i + 1
        if not line:
            out.append(Line(lineno, "", Role.BLANK, ""))
            if state == "tags" and tags_read:
                state = "footer"
            continue
        role: Role
        reason: str
        if state == "tags":
            if _closes_tags(i, keys, related) or legal_reason(line, norms[i], keys[i], words[i]):
                state = "footer"
                role, reason = Role.CHROME, "closes the tag block"
            else:
                role, reason, tags_read = Role.TAG, "in the tag block after «الوسوم»", True
        elif state == "footer":
            if keys[i] in TAGS_KEYS and not tags_read:
                state = "tags"  # a tag block after a list at the foot of the article
                role, reason = Role.CHROME, "a footer marker: the tag block follows"
            else:
                role, reason = Role.CHROME, "after the end of the article"
        elif i == title_at:
            role, reason, state = Role.TITLE, title_reason, "teaser"
        elif state == "header":
            role, reason = header_role(i) or (Role.CHROME, "before the headline")
        elif keys[i] in END_KEYS:
            state = "tags" if keys[i] in TAGS_KEYS else "footer"
            role, reason = Role.CHROME, "a footer marker: the article ends here"
        elif norms[i].startswith(_TAG_LABEL_STARTS) and _INLINE_TAGS.match(norms[i]):
            role, reason = Role.TAG, "tags after a label on the line («الوسوم:», «كلمات مفتاحية:»)"
            tags_read = True
        elif hashtags(line) is not None:
            role, reason, tags_read = Role.TAG, "a line of hashtags: the page's tags", True
        elif i == repeat_at:
            role, reason, state = Role.TITLE, "the headline again: the article starts", "body"
        elif (other := header_role(i)) is not None:
            role, reason = other
            if role is Role.LEGAL or (i in list_ends and paragraphs):
                state = "footer"
                reason += "; the article ends here"
        elif cmps[i] == title_key:
            role, reason = Role.TITLE, "repeats the headline"
        elif state == "teaser" and repeat_at is not None and i < repeat_at:
            role, reason = Role.TEASER, f"before the headline's repeat on line {repeat_at + 1}"
        elif paragraphs and not ends_sentence(_last_text(out, paragraphs[-1])):
            role, reason = Role.JOINED, "the previous line ends mid-sentence"
            paragraphs[-1].append(len(out))
        elif is_caption(line, _next_text(texts, norms, i), bool(paragraphs)):
            role, reason = Role.CAPTION, "short, no sentence-final punctuation: an image caption"
        else:
            role, reason = Role.PARAGRAPH, "article text"
            paragraphs.append([len(out)])
        special = made.get(i)
        if special is not None and special.role is role and special.reason == reason:
            out.append(special)
        else:
            out.append(Line(lineno, line, role, reason))
    return _mark_duplicates(out, paragraphs, cmps)


# What ends a sentence, for the shapes: a line ending so is prose or a
# copyright line, never a menu, a share bar, a byline or a caption.
_FINAL = frozenset(".!؟?…")


def _shape_role(line: str, norm: str, key: str, count: int, ends: bool) -> tuple[Role, str] | None:
    """Navigation, share and legal lines, by their shape (``shapes``). A
    sentence longer than a share line can only be a copyright line."""
    if not (ends and count > SHARE_MAX_WORDS):
        if not ends and is_nav(line, count):
            return Role.NAV, "a navigation bar: short items between | · • » / -"
        reason = share_reason(norm, count)
        if reason:
            return Role.SHARE, reason
    reason = legal_reason(line, norm, key, count)
    return (Role.LEGAL, reason) if reason else None


# «الوسوم: مصر، اقتصاد» (``normalize_arabic`` form; the labels of ``chrome.TAGS_MARKERS``).
_TAG_LABEL_STARTS = ("الوسوم", "وسوم", "كلمات", "الكلمات", "tags")
_INLINE_TAGS = re.compile(r"^(?:الوسوم|وسوم|(?:ال)?كلمات (?:ال)?(?:مفتاحيه|دلاليه)|tags)\s*:\s*\S")


def _closes_tags(i: int, keys: list[str], related: dict[int, tuple[Role, str]]) -> bool:
    key = keys[i]
    return key in END_KEYS or key in MORE_KEYS or i in related


def _related_blocks(
    texts: list[str], keys: list[str], words: list[int], chrome: frozenset[str]
) -> tuple[dict[int, tuple[Role, str]], set[int]]:
    """The lines of related-article lists: a header («اقرأ أيضاً»,
    «مقالات ذات صلة» …) and the headlines under it. A list set right under
    its header (no blank line) ends at the first blank line; one whose items
    stand apart, at the first line that is no headline (a sentence, a
    longer line). Either way it ends at a chrome line or another header.

    Also the last line of each list that article text does not follow: once
    the article has begun, it ends there (what follows a list at the foot
    of an article is the site's, however unknown its lines)."""
    found: dict[int, tuple[Role, str]] = {}
    ends: set[int] = set()
    headers = RELATED_LINE_KEYS.intersection(keys)  # most pages: none, found in C
    if not headers:
        return found, ends
    count = len(texts)
    for i in [i for i, key in enumerate(keys) if key in headers]:
        found[i] = (Role.RELATED, "heads a list of other articles' headlines")
        j = i + 1
        compact = j < count and bool(texts[j])
        last = i
        while j < count:
            if not texts[j]:
                if compact:
                    break
                j += 1
                continue
            if (
                keys[j] in chrome
                or keys[j] in END_KEYS
                or keys[j] in RELATED_LINE_KEYS
                or not is_related_item(texts[j], words[j])
            ):
                break
            found[j] = (Role.RELATED, f"a headline in the list under line {i + 1}")
            last = j
            j += 1
        after = next((k for k in range(last + 1, count) if texts[k]), None)
        if after is None or not is_prose(texts[after], words[after]):
            ends.add(last)
    return found, ends


def _byline_line(i: int, line: str, byline: Byline, page: PageContext) -> Line | None:
    """The Line of a byline, with the date that may follow the name on it
    («كتب: أحمد سمير | الأحد 29 نوفمبر 2026»); None when what follows the
    name is neither a date nor a place of a few words (then the line is
    prose that happens to open with «المصدر:»)."""
    found = None
    if byline.rest:
        try:
            found = find_page_date(byline.rest, page.tz, page.mtime)
        except DateError:
            found = None
        if found is None and byline.rest.count(" ") >= 3:
            return None
    role = Role.BYLINE if byline.writer else Role.CREDIT
    reason = byline.reason
    if byline.name is not None:
        reason += f"; the author: {byline.name}" + (
            "" if byline.writer else ", if no byline names one"
        )
    if found is None:
        return Line(i + 1, line, role, reason, author=byline.name)
    date, updated = _dates_of(found)
    reason += ", and " + ("an update date" if date is None else "the date")
    return Line(i + 1, line, role, reason, date=date, updated=updated, author=byline.name)


def _dates_of(found: FoundDate) -> tuple[datetime | None, datetime | None]:
    """(publication, update) of a date found on a line."""
    if found.update:
        return None, found.value
    return found.value, found.updated


def _date_update_times(
    update_times: dict[int, tuple[int, int, int]], made: dict[int, Line], texts: list[str]
) -> None:
    """«آخر تحديث: 06:50 م», a time alone: the update on the day of the
    publication date nearest above it (else the first one below)."""
    published = sorted((i, line.date) for i, line in made.items() if line.date is not None)
    for i, clock in update_times.items():
        above = [date for k, date in published if k < i]
        day = above[-1] if above else (published[0][1] if published else None)
        if day is None:
            continue
        try:
            updated = max(at_time(day, clock, texts[i]), day)
        except DateError as exc:
            made[i] = Line(i + 1, texts[i], Role.BAD_DATE, str(exc))
            continue
        reason = "an update time («آخر تحديث») on the day of the publication"
        made[i] = Line(i + 1, texts[i], Role.DATE, reason, updated=updated)


def _date_line(i: int, line: str, page: PageContext) -> Line | None:
    try:
        found = find_page_date(line, page.tz, page.mtime)
    except DateError as exc:
        return Line(i + 1, line, Role.BAD_DATE, str(exc))
    if found is None:
        return None
    date, updated = _dates_of(found)
    if date is None:
        label = "an update date («آخر تحديث»)"
    elif updated is not None:
        label = "a date line with the publication and the update («آخر تحديث»)"
    else:
        label = "a date line"
    return Line(i + 1, line, Role.DATE, label, date=date, updated=updated)


def _find_title(
    filled: list[int],
    texts: list[str],
    keys: list[str],
    cmps: list[str],
    header_role: Callable[[int], tuple[Role, str] | None],
) -> tuple[int | None, int | None, str]:
    """(title index, index of its repeat, reason). The first headline-like
    line whose repeat follows soon wins (a teaser, then the article); else the
    first headline-like line; else the first line that is nothing else."""
    candidates: list[int] = []
    fallback: int | None = None
    for pos, i in enumerate(filled):
        if header_role(i) is not None:
            continue
        if keys[i] in END_KEYS:
            break
        if fallback is None:
            fallback = i
        if not reads_like_headline(texts[i]):
            continue
        candidates.append(i)
        for j in filled[pos + 1 : pos + 1 + TEASER_WINDOW]:
            if cmps[j] == cmps[i]:
                return i, j, f"reads like a headline; repeated on line {j + 1}"
        if len(candidates) >= TITLE_CANDIDATES:
            break
    if candidates:
        return candidates[0], None, "the first line that reads like a headline"
    return fallback, None, "the first line that is not chrome"


def _next_text(texts: list[str], norms: list[str], i: int) -> str | None:
    """The normalised form of the next non-blank line."""
    return next((norms[k] for k in range(i + 1, len(texts)) if texts[k]), None)


def _last_text(out: list[Line], paragraph: list[int]) -> str:
    return out[paragraph[-1]].text


def _mark_duplicates(out: list[Line], paragraphs: list[list[int]], cmps: list[str]) -> list[Line]:
    """A paragraph's key is ``_compare(normalize_arabic(" ".join(its lines)))``,
    which is its lines' compare keys joined (normalising and comparing work
    per character, and the space is dropped), so no text is normalised again."""
    seen: set[str] = set()
    for paragraph in paragraphs:
        key = "".join(cmps[out[k].lineno - 1] for k in paragraph)
        if key in seen:
            for k in paragraph:
                line = out[k]
                out[k] = Line(
                    line.lineno, line.text, Role.DUPLICATE, "repeats an earlier paragraph"
                )
        seen.add(key)
    return out
