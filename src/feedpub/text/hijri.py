"""The Umm al-Qura Hijri date of a day, written the Arabic way
(«١٨ جمادى الآخرة ١٤٤٨ هـ»): the only module that imports hijridate.

hijridate converts with the Umm al-Qura tables (1343-1500 AH, 1924-2077 CE);
a day outside them has no Hijri date here rather than a wrong one. Announced
months can start a day before or after the calculation (moon sighting), so
``adjust`` (-1, 0, +1: ``email.hijri_adjust``) moves the day converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hijridate import Gregorian, Hijri

from feedpub.text.rtl import shape_digits

ADJUST_RANGE = (-1, 1)


@dataclass(frozen=True)
class HijriDate:
    year: int
    month: int
    day: int

    @property
    def month_name(self) -> str:
        """The month's Arabic name (محرم ... ذو الحجة)."""
        return str(Hijri(self.year, self.month, self.day, validate=False).month_name("ar"))

    def text(self, digits: str) -> str:
        """«١٨ جمادى الآخرة ١٤٤٨ هـ» (``digits``: arab or latn)."""
        numbers = shape_digits(f"{self.day}|{self.year}", digits).split("|")
        return f"{numbers[0]} {self.month_name} {numbers[1]} هـ"


def hijri_date(day: date, adjust: int = 0) -> HijriDate | None:
    """The Hijri date of the civil day ``day`` moved by ``adjust`` days;
    None outside the Umm al-Qura tables."""
    if not ADJUST_RANGE[0] <= adjust <= ADJUST_RANGE[1]:
        raise ValueError(f"adjust must be -1, 0 or 1, got {adjust}")
    moved = day + timedelta(days=adjust)
    try:
        converted = Gregorian(moved.year, moved.month, moved.day).to_hijri()
    except (OverflowError, ValueError):
        return None
    return HijriDate(converted.year, converted.month, converted.day)


def hijri_text(day: date, digits: str, adjust: int = 0) -> str | None:
    """«١٨ جمادى الآخرة ١٤٤٨ هـ» for ``day``, None outside the tables."""
    found = hijri_date(day, adjust)
    return None if found is None else found.text(digits)


def with_hijri(gregorian: str, day: date, digits: str, adjust: int = 0) -> str:
    """A written Gregorian date with the Hijri date of ``day`` beside it,
    «السبت، ٢٨ تشرين الثاني ٢٠٢٦ - ١٨ جمادى الآخرة ١٤٤٨ هـ»; the Gregorian
    date alone outside the tables."""
    hijri = hijri_text(day, digits, adjust)
    return gregorian if hijri is None else f"{gregorian} - {hijri}"
