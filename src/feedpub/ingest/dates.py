"""Dates: the date line of a scraped page, and the dates of records.

Pages write dates the Arab-world way: Levantine, Egyptian or Maghrebi month
names (or two of them, «نوفمبر/تشرين الثاني»), day first, Arabic-Indic
digits, ص/م for am/pm, often beside the Hijri date («الموافق 28 جمادى
الأولى 1448 هـ», which is skipped: the Gregorian one is the date). A line
may carry the publication and the update («نشر: … | آخر تحديث: …»). A
value that has no UTC equivalent is refused: the store keeps UTC and would
fail the batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from dateutil.parser import isoparse

from feedpub.text.arabic import ascii_digits, collapse_ws, normalize_arabic

# Month names in ``normalize_arabic`` form: Levantine (Syriac), Egyptian
# (transliterated), Algerian and Tunisian (French) and Moroccan spellings.
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
    "ماي": 5,
    "يوليوز": 7,
    "غشت": 8,
    "شتنبر": 9,
    "نونبر": 11,
    "دجنبر": 12,
}
# Hijri months (``normalize_arabic`` form): a Hijri date beside the
# Gregorian one is left out of a date line's words, not read.
_HIJRI_MONTHS = (
    "محرم",
    "صفر",
    "ربيع الاول",
    "ربيع الاخر",
    "ربيع الثاني",
    "جمادي الاولي",
    "جمادي الاول",
    "جمادي الاخره",
    "جمادي الثانيه",
    "جمادي الاخر",
    "جمادي الثاني",
    "رجب",
    "شعبان",
    "رمضان",
    "شوال",
    "ذو القعده",
    "ذي القعده",
    "ذو الحجه",
    "ذي الحجه",
)
_MONTH_ALT = "|".join(
    r"\s+".join(map(re.escape, name.split(" ")))
    for name in sorted(MONTHS, key=lambda n: (-len(n), n))
)
_NAMED_DATE = re.compile(
    rf"(?<!\d)(\d{{1,2}})\s+({_MONTH_ALT})"
    rf"(?:\s*[/-]\s*(?:{_MONTH_ALT})|\s*\(\s*(?:{_MONTH_ALT})\s*\))?[\s,،]+(\d{{4}})(?!\d)"
)
_HIJRI_DATE = re.compile(
    r"(?<!\d)\d{1,2}\s+(?:"
    + "|".join(r"\s+".join(name.split(" ")) for name in _HIJRI_MONTHS)
    + r")\s+\d{4}(?!\d)\s*(?:ه(?![^\W\d_])|هجري(?:ه)?)?"
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
        "الموافق",
        "موافق",
        "م",
        "ميلادي",
        "تم",
        "تعديل",
        "التعديل",
        "محدث",
    )
)
_UPDATE_WORDS = frozenset(("تحديث", "التحديث", "تعديل", "التعديل", "محدث"))
# Where each part of a line holding both dates starts: «نشر في: … | آخر
# تحديث: …» or the other way round.
_UPDATE_LABEL = re.compile(r"(?:(?:اخر|تم)\s+)?(?:التحديث|تحديث|التعديل|تعديل)(?!\w)")
_PUBLISH_LABEL = re.compile(r"(?:تاريخ\s+)?(?:النشر|نشر|نشرت|منشور)(?!\w)")
# A label before a relative date («آخر تحديث: منذ ساعتين»).
_RELATIVE_LABEL = re.compile(
    r"^(?:(?:نشر|نشرت|منشور)(?:\s+في)?|تاريخ\s+النشر|(?:(?:اخر|تم)\s+)?(?:التحديث|تحديث))\s*:?\s*"
)
_DATE_LINE_SPARE_WORDS = 2  # e.g. a place or agency name: "دمشق - سانا"
# A longer line is not a date line (the classifier skips those unread): a
# line with both dates and their labels is about a hundred characters.
MAX_LINE_CHARS = 120


class DateError(ValueError):
    """A date was found (or given) but is not a real date."""


@dataclass(frozen=True)
class FoundDate:
    value: datetime
    text: str
    update: bool = False  # «آخر تحديث»: the page's update, not its publication
    # A line with both dates: ``value`` is the publication, this the update.
    updated: datetime | None = None


# «منذ ساعتين», «منذ 3 ساعات», «منذ 45 دقيقة», «منذ يومين» (``normalize_arabic`` form).
_RELATIVE = re.compile(
    r"^منذ\s+(?:(\d+)\s+)?(ساعه|ساعتين|ساعات|دقيقه|دقيقتين|دقائق|يوم|يومين|ايام)$"
)
_UNITS: dict[str, tuple[str, int]] = {
    "ساعه": ("hours", 1),
    "ساعتين": ("hours", 2),
    "ساعات": ("hours", 0),
    "دقيقه": ("minutes", 1),
    "دقيقتين": ("minutes", 2),
    "دقائق": ("minutes", 0),
    "يوم": ("days", 1),
    "يومين": ("days", 2),
    "ايام": ("days", 0),
}
# «أمس الساعة 18:40», «اليوم 09:15».
_DAY_WORD = re.compile(r"^(امس|اليوم)(?:\s+الساعه)?\s+(\d{1,2}):(\d{2})$")


def _relative_date(text: str, mtime: datetime) -> datetime | None:
    """A live site's relative date, resolved against the file's mtime (when
    it was scraped): «منذ 3 ساعات» is mtime minus 3 hours."""
    found = _RELATIVE.match(text)
    if found:
        unit, fixed = _UNITS[found.group(2)]
        amount = int(found.group(1)) if found.group(1) else fixed
        if not amount:
            return None
        return mtime - timedelta(**{unit: amount})
    day = _DAY_WORD.match(text)
    if day:
        base = mtime.date() - timedelta(days=1 if day.group(1) == "امس" else 0)
        hour, minute = int(day.group(2)), int(day.group(3))
        if hour > 23 or minute > 59:
            return None
        return datetime(base.year, base.month, base.day, hour, minute, tzinfo=mtime.tzinfo)
    return None


def find_page_date(line: str, tz: tzinfo, mtime: datetime | None = None) -> FoundDate | None:
    """The date on ``line`` if the line is a date line (a date, maybe a time,
    a few label words and nothing else); raises DateError for a date line
    whose date does not exist (31/02/2026). With ``mtime``, relative dates
    («منذ ساعتين», «أمس الساعة 18:40») are read too. A line holding the
    publication and then the update gives both (``FoundDate.updated``)."""
    if len(line) > MAX_LINE_CHARS:
        return None
    text = normalize_arabic(ascii_digits(line))
    if mtime is not None:
        found = _relative(collapse_ws(text), mtime, line)
        if found is not None:
            return found
    if "تحديث" in text or "تعديل" in text:
        both = _both_dates(text, tz, line)
        if both is not None:
            return both
    return _one_date(text, tz, line)


def _both_dates(text: str, tz: tzinfo, line: str) -> FoundDate | None:
    """A line holding the publication and the update, in either order."""
    update = _UPDATE_LABEL.search(text)
    if update is None:
        return None
    if update.start() > 0:
        cut = update.start()
    else:
        publish = _PUBLISH_LABEL.search(text, update.end())
        if publish is None:
            return None
        cut = publish.start()
    first, second = _one_date(text[:cut], tz, line), _one_date(text[cut:], tz, line)
    if first is not None and second is None and not first.update:
        # «… 10:15 ص | آخر تحديث: 12:40 م»: the update that day.
        second = _time_that_day(text[cut:], first.value, line)
    if first is None or second is None or first.update == second.update:
        return None
    published, updated = (second, first) if first.update else (first, second)
    return FoundDate(published.value, line.strip(), updated=max(updated.value, published.value))


def _time_that_day(text: str, day: datetime, line: str) -> FoundDate | None:
    """An update label and a time alone: that time on ``day``."""
    clock = _time_alone(text)
    if clock is None:
        return None
    return FoundDate(value=at_time(day, clock, line), text=line.strip(), update=True)


def find_update_time(line: str) -> tuple[int, int, int] | None:
    """The time of a line holding «آخر تحديث» and a time only («آخر
    تحديث: 06:50 م»): the update on the publication's day."""
    if len(line) > MAX_LINE_CHARS:
        return None
    text = normalize_arabic(ascii_digits(line))
    if _UPDATE_LABEL.search(text) is None:
        return None
    return _time_alone(text)


def at_time(day: datetime, clock: tuple[int, int, int], line: str) -> datetime:
    """``day`` at the time ``clock``; DateError for a time that is none (25:10)."""
    hour, minute, second = clock
    try:
        return day.replace(hour=hour, minute=minute, second=second)
    except ValueError as exc:
        raise DateError(f"date {line.strip()!r} does not parse: {exc}") from None


def _time_alone(text: str) -> tuple[int, int, int] | None:
    """(hour, minute, second) of ``text`` when it holds a time and date-line words only."""
    time_match = _TIME.search(text)
    if time_match is None:
        return None
    words = [w for w in _WORD_SPLIT.split(text.replace(time_match.group(0), " ")) if w]
    if any(w not in _DATE_LINE_WORDS for w in words):
        return None
    return _clock(time_match)


def _clock(time_match: re.Match[str]) -> tuple[int, int, int]:
    """(hour, minute, second) of a ``_TIME`` match, ص/م and am/pm applied."""
    hour, minute = int(time_match.group(1)), int(time_match.group(2))
    second = int(time_match.group(3) or 0)
    marker = time_match.group(4)
    if marker in ("م", "مساء", "مساءا", "pm") and hour < 12:
        hour += 12
    elif marker in ("ص", "صباحا", "am") and hour == 12:
        hour = 0
    return hour, minute, second


def _relative(text: str, mtime: datetime, line: str) -> FoundDate | None:
    label = _RELATIVE_LABEL.match(text)
    bare = text[label.end() :] if label else text
    value = _relative_date(bare, mtime)
    if value is None:
        return None
    update = label is not None and "تحديث" in label.group(0)
    return FoundDate(value=value, text=line.strip(), update=update)


def _one_date(text: str, tz: tzinfo, line: str) -> FoundDate | None:
    """``find_page_date`` of ``text``, normalised, holding at most one date."""
    found = _match_date(text)
    if found is None:
        return None
    (year, month, day), zone, time_match, span = found
    rest = text[: span[0]] + " " + text[span[1] :]
    if "ه" in rest:  # a Hijri date beside it: not words of the line
        rest = _HIJRI_DATE.sub(" ", rest)
    if time_match is None:
        time_match = _TIME.search(rest)
    if time_match is not None:
        rest = rest.replace(time_match.group(0), " ")
    words = [w for w in _WORD_SPLIT.split(rest) if w]
    spare = [w for w in words if w not in _DATE_LINE_WORDS]
    if len(spare) > _DATE_LINE_SPARE_WORDS:
        return None
    hour, minute, second = _clock(time_match) if time_match is not None else (0, 0, 0)
    try:
        naive = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - zone set below
    except ValueError as exc:
        raise DateError(f"date {line.strip()!r} does not parse: {exc}") from None
    value = _in_range(naive.replace(tzinfo=zone or tz), line.strip())
    return FoundDate(value=value, text=line.strip(), update=not _UPDATE_WORDS.isdisjoint(words))


_WORD_SPLIT = re.compile(r"[\s:|،,\-–—/()]+")


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
