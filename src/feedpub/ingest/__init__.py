"""Source files -> clean ``Article`` values (and ``Reject`` values for input
that cannot be used). Nothing here writes anywhere: the pipeline upserts.

Two kinds of input:

* Scraped pages (``*.txt``): the whole page as UTF-8 text, site chrome and
  all. See ``parse_page`` for the rules.
* Structured records (``*.jsonl``, ``*.json``, ``*.yaml``/``*.yml``) with the
  fields ``id``, ``title``, ``summary``, ``content`` (HTML) or ``text``
  (plain), ``author``, ``published``, ``updated``, ``tags``, ``url``,
  ``image``. Unknown fields are ignored.

Decisions worth knowing:

* A page's content is *all* its paragraphs, so it starts with the lead
  (which is also the summary) exactly once; the teaser copy is dropped.
* ``content_hash`` covers what a reader sees (id, title, summary, content,
  author, url, image, tags) and the dates *only when they come from the
  input*. A date taken from the file's mtime is left out, so touching a file
  does not make its article "updated".
* Records without ``updated`` use ``published`` (not the mtime: appending a
  record to a file changes the mtime of every record in it). Records
  without ``published`` use ``updated``, else the file's mtime.
* Explicit tags whose key is a vocabulary name or alias become that
  vocabulary tag, so «موسكو» given as a tag and «روسيا» found in the text
  do not make two tags when the vocabulary says موسكو is روسيا.
* A page ends at الوسوم or at an end-of-article widget (``FOOTER_MARKERS``):
  what follows is related links and popups, never article text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from dateutil.parser import isoparse

from feedpub.config import Config, SourceConfig
from feedpub.model import Article, Reject, Tag
from feedpub.text.arabic import (
    Vocabulary,
    ascii_digits,
    collapse_ws,
    compare_key,
    compile_vocabulary,
    is_blank,
    make_tag,
    normalize_arabic,
    strip_xml_illegal,
    tag_key,
)
from feedpub.text.sanitize import clean_html, html_paragraphs, paragraphs_to_html, strip_tags

PAGE_SUFFIXES: tuple[str, ...] = (".txt",)
RECORD_SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".yaml", ".yml")
SUFFIXES: tuple[str, ...] = PAGE_SUFFIXES + RECORD_SUFFIXES

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
# Article ids and tag keys are the store's keys: at most this many characters
# (PostgreSQL refuses longer ones, which would fail the whole batch).
MAX_KEY_CHARS = 255

# A paragraph ending like this ends a sentence; any other is joined with the
# next one (pages are broken mid-sentence by blank lines). Closing quotes and
# brackets may follow the punctuation.
_SENTENCE_END = re.compile("[.!?…؟!:۔][\"'”’»)\\]]*$")


def ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text.rstrip()))


# --- dates -------------------------------------------------------------------

# Month names in ``normalize_arabic`` form: Levantine (Syriac), Egyptian
# (transliterated) and the common Maghrebi spellings.
MONTHS: dict[str, int] = {
    "كانون الثاني": 1,
    "كانون ثاني": 1,
    "شباط": 2,
    "اذار": 3,
    "نيسان": 4,
    "ايار": 5,
    "حزيران": 6,
    "تموز": 7,
    "اب": 8,
    "ايلول": 9,
    "تشرين الاول": 10,
    "تشرين اول": 10,
    "تشرين الثاني": 11,
    "تشرين ثاني": 11,
    "كانون الاول": 12,
    "كانون اول": 12,
    "يناير": 1,
    "فبراير": 2,
    "مارس": 3,
    "ابريل": 4,
    "مايو": 5,
    "يونيو": 6,
    "يونيه": 6,
    "يوليو": 7,
    "يوليه": 7,
    "اغسطس": 8,
    "سبتمبر": 9,
    "اكتوبر": 10,
    "نوفمبر": 11,
    "ديسمبر": 12,
    "جانفي": 1,
    "فيفري": 2,
    "افريل": 4,
    "جوان": 6,
    "جويليه": 7,
    "اوت": 8,
}
_MONTH_ALT = "|".join(
    r"\s+".join(map(re.escape, name.split(" ")))
    for name in sorted(MONTHS, key=lambda n: (-len(n), n))
)
_NAMED_DATE = re.compile(
    rf"(?<!\d)(\d{{1,2}})\s+({_MONTH_ALT})(?:\s*[/-]\s*(?:{_MONTH_ALT}))?[\s,،]+(\d{{4}})(?!\d)"
)
_ISO_DATE = re.compile(
    r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[t ](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(z|[+-]\d{2}:?\d{2})?)?(?!\d)"
)
_YMD_DATE = re.compile(r"(?<!\d)(\d{4})/(\d{1,2})/(\d{1,2})(?!\d)")
_DMY_DATE = re.compile(r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?!\d)")
_TIME = re.compile(
    r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])\s*(ص|م|صباحا|مساء|مساءا|am|pm)?(?!\w)"
)
# Words that may stand on a date line besides the date ("نشر في: السبت ...").
_DATE_LINE_WORDS = frozenset(
    normalize_arabic(word)
    for word in (
        "نشر",
        "نشرت",
        "منشور",
        "بتاريخ",
        "تاريخ",
        "التاريخ",
        "النشر",
        "في",
        "آخر",
        "اخر",
        "تحديث",
        "التحديث",
        "الساعة",
        "ساعة",
        "الأحد",
        "الاثنين",
        "الإثنين",
        "الثلاثاء",
        "الأربعاء",
        "الخميس",
        "الجمعة",
        "السبت",
        "ص",
        "م",
        "صباحا",
        "صباحاً",
        "مساء",
        "مساءً",
        "am",
        "pm",
        "gmt",
        "utc",
    )
)
_DATE_LINE_SPARE_WORDS = 2  # e.g. a place or agency name: "دمشق - سانا"
_DATE_LINE_MAX_CHARS = 80


class DateError(ValueError):
    """A date was found (or given) but is not a real date."""


@dataclass(frozen=True)
class _FoundDate:
    value: datetime
    text: str


def find_page_date(line: str, tz: tzinfo) -> _FoundDate | None:
    """The date on ``line`` if the line is a date line (a date, maybe a time,
    a few label words and nothing else); raises DateError for a date line
    whose date does not exist (31/02/2026)."""
    if len(line) > _DATE_LINE_MAX_CHARS:
        return None
    text = normalize_arabic(ascii_digits(line))
    found = _match_date(text)
    if found is None:
        return None
    (year, month, day), zone, time_match, span = found
    rest = text[: span[0]] + " " + text[span[1] :]
    if time_match is None:
        time_match = _TIME.search(rest)
    if time_match is not None:
        rest = rest.replace(time_match.group(0), " ")
    words = [w for w in re.split(r"[\s:|،,\-–—/()]+", rest) if w]
    spare = [w for w in words if w not in _DATE_LINE_WORDS]
    if len(spare) > _DATE_LINE_SPARE_WORDS:
        return None
    hour = minute = second = 0
    if time_match is not None:
        hour, minute = int(time_match.group(1)), int(time_match.group(2))
        second = int(time_match.group(3) or 0)
        marker = time_match.group(4)
        if marker in ("م", "مساء", "مساءا", "pm") and hour < 12:
            hour += 12
        elif marker in ("ص", "صباحا", "am") and hour == 12:
            hour = 0
    try:
        naive = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - zone set below
    except ValueError as exc:
        raise DateError(f"date {line.strip()!r} does not parse: {exc}") from None
    value = _in_range(naive.replace(tzinfo=zone or tz), line.strip())
    return _FoundDate(value=value, text=line.strip())


def _in_range(value: datetime, text: str) -> datetime:
    """``value`` unless it has no UTC equivalent (year 1 east of UTC, year
    9999 west of it): the store keeps UTC, and would fail the whole batch."""
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise DateError(f"date {text!r} is out of range") from None
    return value


def _match_date(
    text: str,
) -> tuple[tuple[int, int, int], tzinfo | None, re.Match[str] | None, tuple[int, int]] | None:
    iso = _ISO_DATE.search(text)
    if iso:
        zone: tzinfo | None = None
        raw_zone = iso.group(7)
        if raw_zone:
            zone = UTC if raw_zone == "z" else _offset(raw_zone)
        time_match = None
        if iso.group(4):
            time_match = _TIME.match(f"{iso.group(4)}:{iso.group(5)}:{iso.group(6) or '00'}")
        ymd = (int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        return ymd, zone, time_match, iso.span()
    named = _NAMED_DATE.search(text)
    if named:
        month = MONTHS[collapse_ws(named.group(2))]
        return (int(named.group(3)), month, int(named.group(1))), None, None, named.span()
    ymd_match = _YMD_DATE.search(text)
    if ymd_match:
        y, m, d = (int(g) for g in ymd_match.groups())
        return (y, m, d), None, None, ymd_match.span()
    # Day first, as written across the Arab world (14/09/2021).
    dmy = _DMY_DATE.search(text)
    if dmy:
        d, m, y = (int(g) for g in dmy.groups())
        return (y, m, d), None, None, dmy.span()
    return None


def _offset(raw: str) -> tzinfo:
    sign = -1 if raw[0] == "-" else 1
    digits = raw[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def parse_record_date(value: object, tz: tzinfo) -> datetime:
    """An ISO 8601 date (or a YAML date/datetime) -> aware datetime; a value
    without a zone is in ``tz``. Raises DateError."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - zone set below
    elif isinstance(value, str):
        try:
            parsed = isoparse(ascii_digits(value.strip()))
        except (ValueError, OverflowError):
            raise DateError(f"{value!r} is not an ISO 8601 date") from None
    else:
        raise DateError(f"must be an ISO 8601 date, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=tz)
    return _in_range(parsed, str(value))


# --- settings derived from the config -----------------------------------------


@dataclass(frozen=True)
class _Settings:
    tz: tzinfo
    chrome: frozenset[str]
    max_bytes: int
    vocabulary: Vocabulary
    site_url: str


@lru_cache(maxsize=16)
def _chrome_keys(lines: tuple[str, ...]) -> frozenset[str]:
    # Compared in normalised form, so أظهر/اظهر or a stray diacritic still match.
    return frozenset(tag_key(line) for line in lines) - {""}


_FOOTER_KEYS = frozenset(tag_key(marker) for marker in FOOTER_MARKERS)
_TAGS_KEY = tag_key(TAGS_MARKER)


def _settings(cfg: Config) -> _Settings:
    return _Settings(
        tz=cfg.site.timezone,
        chrome=_chrome_keys(tuple(cfg.ingest.chrome_lines)),
        max_bytes=cfg.ingest.max_article_bytes,
        vocabulary=compile_vocabulary(cfg.tags.vocabulary),
        site_url=cfg.site.url,
    )


# --- public API ---------------------------------------------------------------


def discover(sources: Sequence[SourceConfig], now: datetime) -> tuple[list[Path], list[Reject]]:
    """Every .txt/.jsonl/.json/.yaml/.yml file under each source path (a
    source may also name one file), sorted within each source, sources in
    config order, each file once. Hidden files and folders are skipped.
    Problems (a missing source path, an unreadable folder) come back as
    Rejects stamped ``now``; they never stop the others."""
    paths: list[Path] = []
    seen: set[Path] = set()
    problems: list[Reject] = []
    for source in sources:
        root = source.path
        try:
            if root.is_file():
                if root.suffix.lower() not in SUFFIXES:
                    problems.append(
                        Reject(
                            str(root),
                            f"source file is not one of {', '.join(SUFFIXES)}",
                            now,
                        )
                    )
                    continue
                found = [root]
            elif root.is_dir():
                found = sorted(
                    p
                    for p in root.rglob("*")
                    if p.suffix.lower() in SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(root).parts)
                    and p.is_file()
                )
            else:
                problems.append(Reject(str(root), "source path does not exist", now))
                continue
        except OSError as exc:
            problems.append(Reject(str(root), f"cannot list source: {exc.strerror or exc}", now))
            continue
        for path in found:
            if path not in seen:
                seen.add(path)
                paths.append(path)
    return paths, problems


def source_name(path: Path) -> str:
    """``path`` as the ``source`` of its articles and rejects: its text,
    with the bytes of a file name that is not UTF-8 written as \\xNN (the
    store cannot hold the lone surrogates Python decodes them to)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_path(path: Path, cfg: Config, now: datetime) -> list[Article | Reject]:
    """One file -> its articles and rejects, in file order, each with
    ``source_name(path)`` as its source. Never raises for bad content: every
    problem is a Reject stamped ``now``."""
    settings = _settings(cfg)
    source = source_name(path)

    def reject(reason: str, location: str | None = None) -> Reject:
        return Reject(source=source, reason=reason, seen=now, location=location)

    if source != str(path):
        return [reject("file name is not UTF-8")]
    try:
        stat = path.stat()
        is_page = path.suffix.lower() in PAGE_SUFFIXES
        if is_page and stat.st_size > settings.max_bytes:
            return [
                reject(
                    f"file is {stat.st_size} bytes, larger than "
                    f"ingest.max_article_bytes ({settings.max_bytes})"
                )
            ]
        data = path.read_bytes()
    except OSError as exc:
        return [reject(f"cannot read file: {exc.strerror or exc}")]
    mtime = datetime.fromtimestamp(int(stat.st_mtime), tz=UTC).astimezone(settings.tz)

    if b"\x00" in data:
        return [reject("binary file (contains NUL bytes; UTF-16 or not text)")]
    if not data.strip():
        return [reject("empty file")]
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return list(_read_jsonl(data, source, settings, now, mtime))
    text, error = _decode(data)
    if text is None:
        return [reject(error)]
    if not text.strip(" \t\r\n\ufeff"):
        return [reject("empty file")]
    if is_page:
        return [parse_page(text, path, settings, now, mtime)]
    if suffix == ".json":
        return list(_read_json(text, source, settings, now, mtime))
    return list(_read_yaml(text, source, settings, now, mtime))


def read_sources(cfg: Config, now: datetime) -> Iterator[Article | Reject]:
    """``discover`` then ``read_path`` for every file: all articles and rejects."""
    paths, problems = discover(cfg.sources, now)
    yield from problems
    for path in paths:
        yield from read_path(path, cfg, now)


# --- decoding -------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str | None, str]:
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"


# --- scraped pages ----------------------------------------------------------------


def parse_page(
    text: str, path: Path, settings: _Settings, now: datetime, mtime: datetime
) -> Article | Reject:
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
    source = source_name(path)
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
            return Reject(source, str(exc), now, f"line {lineno}")
        if found is not None:
            published = published or found.value
            continue
        body.append(line)

    if not body:
        return Reject(source, "no title: the page holds only site chrome", now)
    title = _plain(body[0])
    if not title:
        return Reject(source, "no title", now)
    paragraphs = _page_paragraphs(body[0], body[1:])
    if not paragraphs:
        return Reject(source, "no article text after the title", now)
    summary = _plain(paragraphs[0])
    content = _clean_content(paragraphs_to_html(paragraphs))
    tags = _tags(page_tags, [title, *paragraphs], settings.vocabulary)
    problem = _long_tag(tags)
    if problem:
        return Reject(source, problem, now)
    return _article(
        id_=_nfc(path.stem),
        title=title,
        summary=summary,
        content=content,
        author=None,
        url=None,
        image=None,
        tags=tags,
        published=published or mtime,
        # Not the mtime when the page is dated: a fresh checkout or copy sets
        # every mtime to "now", and feeds would differ from machine to
        # machine. An edit still moves ``updated``: the store sets it to the
        # time it sees the changed content.
        updated=published or mtime,
        published_given=published is not None,
        updated_given=False,
        source=source,
    )


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


# --- structured records -------------------------------------------------------------


def _read_jsonl(
    data: bytes, source: str, settings: _Settings, now: datetime, mtime: datetime
) -> Iterator[Article | Reject]:
    for lineno, raw_line in enumerate(data.split(b"\n"), start=1):
        where = f"line {lineno}"
        if lineno == 1 and raw_line.startswith(b"\xef\xbb\xbf"):
            raw_line = raw_line[3:]
        if not raw_line.strip():
            continue
        line, error = _decode(raw_line)
        if line is None:
            yield Reject(source, error, now, where)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Reject(source, f"invalid JSON: {exc.msg} (column {exc.colno})", now, where)
            continue
        if not isinstance(record, dict):
            yield Reject(source, f"JSON line is not an object (got {_kind(record)})", now, where)
            continue
        yield _record(record, len(raw_line), source, where, settings, now, mtime)


def _read_json(
    text: str, source: str, settings: _Settings, now: datetime, mtime: datetime
) -> Iterator[Article | Reject]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Reject(
            source, f"invalid JSON: {exc.msg} (column {exc.colno})", now, f"line {exc.lineno}"
        )
        return
    yield from _records(loaded, "JSON", source, settings, now, mtime)


def _read_yaml(
    text: str, source: str, settings: _Settings, now: datetime, mtime: datetime
) -> Iterator[Article | Reject]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"line {mark.line + 1}" if mark is not None else None
        yield Reject(source, f"invalid YAML: {problem}", now, where)
        return
    yield from _records(loaded, "YAML", source, settings, now, mtime)


def _records(
    loaded: Any, kind: str, source: str, settings: _Settings, now: datetime, mtime: datetime
) -> Iterator[Article | Reject]:
    if isinstance(loaded, dict):
        items: list[Any] = [loaded]
    elif isinstance(loaded, list):
        items = loaded
    else:
        yield Reject(
            source, f"{kind} must be an object or a list of objects, got {_kind(loaded)}", now
        )
        return
    for number, record in enumerate(items, start=1):
        where = f"record {number}"
        if not isinstance(record, dict):
            yield Reject(source, f"record is not an object (got {_kind(record)})", now, where)
            continue
        if _valid_id(record.get("id")):
            where = f"id {collapse_ws(strip_xml_illegal(str(record['id'])))}"
        size = len(json.dumps(record, ensure_ascii=False, default=str).encode("utf-8"))
        yield _record(record, size, source, where, settings, now, mtime)


def _valid_id(value: object) -> bool:
    return (isinstance(value, str) and bool(collapse_ws(strip_xml_illegal(value)))) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


class _RecordError(ValueError):
    pass


def _record(
    record: dict[str, Any],
    size: int,
    source: str,
    where: str,
    settings: _Settings,
    now: datetime,
    mtime: datetime,
) -> Article | Reject:
    try:
        return _record_article(record, size, source, settings, mtime)
    except _RecordError as exc:
        return Reject(source, str(exc), now, where)


def _record_article(
    record: dict[str, Any], size: int, source: str, settings: _Settings, mtime: datetime
) -> Article:
    raw_id = record.get("id")
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        raise _RecordError("record has no id")
    if not _valid_id(raw_id):
        raise _RecordError(f"id must be text or a whole number, got {_kind(raw_id)}")
    if size > settings.max_bytes:
        raise _RecordError(
            f"record is {size} bytes, larger than ingest.max_article_bytes ({settings.max_bytes})"
        )
    id_ = _nfc(collapse_ws(strip_xml_illegal(str(raw_id))))
    if len(id_) > MAX_KEY_CHARS:
        raise _RecordError(f"id is longer than {MAX_KEY_CHARS} characters")

    title = _plain(_text_field(record, "title"))
    if not title:
        raise _RecordError("no title")

    html_in = record.get("content")
    text_in = record.get("text")
    if html_in is not None:
        content = _clean_content(_text_field(record, "content"))
    elif text_in is not None:
        blocks = re.split(r"\n[ \t\r\f\v]*\n", strip_xml_illegal(_text_field(record, "text")))
        content = _clean_content(paragraphs_to_html([p for p in map(collapse_ws, blocks) if p]))
    else:
        content = ""
    body = html_paragraphs(content)

    summary = _plain(_text_field(record, "summary"))
    if not summary and body:
        summary = _plain(body[0])
    if not content and summary:
        content = _clean_content(paragraphs_to_html([summary]))
        body = [summary]
    author = _plain(_text_field(record, "author")) or None

    url = _url_field(record, "url", settings.site_url)
    image = _url_field(record, "image", settings.site_url)

    raw_tags = record.get("tags")
    if raw_tags is None:
        raw_tags = []
    elif isinstance(raw_tags, str):
        raw_tags = [raw_tags]
    if not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags):
        raise _RecordError("tags must be a list of strings")
    tags = _tags(raw_tags, [title, summary, *body], settings.vocabulary)
    problem = _long_tag(tags)
    if problem:
        raise _RecordError(problem)

    published = _date_field(record, "published", settings.tz)
    updated = _date_field(record, "updated", settings.tz)
    pub = published or updated or mtime
    upd = max(updated or pub, pub)
    return _article(
        id_=id_,
        title=title,
        summary=summary,
        content=content,
        author=author,
        url=url,
        image=image,
        tags=tags,
        published=pub,
        updated=upd,
        published_given=published is not None or updated is not None,
        updated_given=updated is not None,
        source=source,
    )


def _text_field(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _RecordError(f"{name} must be text, got {_kind(value)}")
    return str(value)


def _date_field(record: dict[str, Any], name: str, tz: tzinfo) -> datetime | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_record_date(value, tz)
    except DateError as exc:
        raise _RecordError(f"{name}: {exc}") from None


def _url_field(record: dict[str, Any], name: str, site_url: str) -> str | None:
    raw = collapse_ws(strip_xml_illegal(_text_field(record, name)))
    if not raw:
        return None
    if raw.startswith("/") and not raw.startswith("//"):
        raw = urljoin(site_url + "/", raw)
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in raw:
        raise _RecordError(f"{name} must be an http(s) URL or a site path, got {raw!r}")
    return raw


# --- shared -------------------------------------------------------------------------


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _plain(text: str) -> str:
    """Plain text for title/summary/author: markup stripped, XML-illegal
    characters removed, whitespace collapsed, NFC."""
    return _nfc(collapse_ws(strip_xml_illegal(strip_tags(strip_xml_illegal(text)))))


def _clean_content(fragment: str) -> str:
    return _nfc(strip_xml_illegal(clean_html(strip_xml_illegal(fragment)))).strip()


def _tags(given: Sequence[str], texts: Sequence[str], vocabulary: Vocabulary) -> tuple[Tag, ...]:
    """Given tags (mapped to their vocabulary name when they are a name or an
    alias), then vocabulary tags found in ``texts``; deduplicated by key."""
    result: dict[str, Tag] = {}
    names = [vocabulary.canonical(tag_key(name)) or name for name in given]
    names.extend(vocabulary.matches("\n".join(texts)))
    for name in names:
        tag = make_tag(strip_tags(name))
        if tag is not None and tag.key not in result:
            result[tag.key] = tag
    return tuple(result.values())


def _long_tag(tags: Sequence[Tag]) -> str | None:
    for tag in tags:
        if len(tag.key) > MAX_KEY_CHARS:
            return f"tag {tag.name[:30]!r}... is longer than {MAX_KEY_CHARS} characters"
    return None


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


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
        "published": article.published.isoformat() if published_given else None,
        "updated": article.updated.isoformat() if updated_given else None,
    }
    blob = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _article(
    *,
    id_: str,
    title: str,
    summary: str,
    content: str,
    author: str | None,
    url: str | None,
    image: str | None,
    tags: tuple[Tag, ...],
    published: datetime,
    updated: datetime,
    published_given: bool,
    updated_given: bool,
    source: str,
) -> Article:
    article = Article(
        id=id_,
        title=title,
        summary=summary,
        content=content,
        published=published,
        updated=updated,
        author=author,
        url=url,
        image=image,
        tags=tags,
        source=source,
    )
    digest = content_hash(article, published_given=published_given, updated_given=updated_given)
    return replace(article, content_hash=digest)
