"""Dates and counts as Arabic readers expect them: the Umm al-Qura Hijri date
beside the Gregorian one (email.hijri, email.hijri_adjust), month names as
the locale has them or both («كانون الأول/ديسمبر»), and counts by the Arabic
plural rules of CLDR (خبر واحد، خبران، ٣ أخبار، ١١ خبراً)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hijridate import Hijri
from lxml import html as lxml_html

from feedpub.config import ConfigError, EmailConfig, load_config
from feedpub.digests import plan_edition, render_edition, write_archive
from feedpub.digests.render import subject_line
from feedpub.digests.site import NEWS_COUNT, news_count
from feedpub.text import rtl
from feedpub.text.hijri import hijri_date, hijri_text, with_hijri
from support.digest_fixtures import (
    DAILY,
    DAMASCUS,
    EMAIL,
    NOW,
    FakeStore,
    articles,
    make_config,
    make_site,
)

SLOT = datetime(2026, 11, 28, 7, 0, tzinfo=DAMASCUS)
HIJRI_MONTHS = (
    "محرم",
    "صفر",
    "ربيع الأول",
    "ربيع الثاني",
    "جمادى الأولى",
    "جمادى الآخرة",
    "رجب",
    "شعبان",
    "رمضان",
    "شوال",
    "ذو القعدة",
    "ذو الحجة",
)


# --- the Hijri date --------------------------------------------------------------------


def hijri_days(first_year: int, last_year: int) -> list[tuple[int, int, int, date]]:
    """Every day of the Hijri years as the converter's Umm al-Qura table has
    them, with the Gregorian day it gives for each (Hijri -> Gregorian, the
    other direction from ours)."""
    days = []
    for year in range(first_year, last_year + 1):
        for month in range(1, 13):
            for day in range(1, Hijri(year, month, 1).month_length() + 1):
                days.append((year, month, day, Hijri(year, month, day).to_gregorian()))
    return days


def test_every_day_of_1446_to_1448_ah() -> None:
    days = hijri_days(1446, 1448)
    assert 1060 < len(days) < 1065  # three lunar years
    gregorian = [g for *_, g in days]
    # The table has no gap and no overlap: one Gregorian day after another.
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(gregorian))
    for year, month, day, civil in days:
        found = hijri_date(civil)
        assert found is not None and (found.year, found.month, found.day) == (year, month, day)
        assert found.month_name == HIJRI_MONTHS[month - 1]
        assert hijri_text(civil, "latn") == f"{day} {HIJRI_MONTHS[month - 1]} {year} هـ"


@pytest.mark.parametrize(
    ("civil", "expected"),
    [
        # Announced starts that match the Umm al-Qura calculation.
        (date(2024, 7, 7), "١ محرم ١٤٤٦ هـ"),
        (date(2025, 3, 1), "١ رمضان ١٤٤٦ هـ"),
        (date(2025, 3, 30), "١ شوال ١٤٤٦ هـ"),
        (date(2025, 6, 26), "١ محرم ١٤٤٧ هـ"),
        (date(2026, 11, 28), "١٨ جمادى الآخرة ١٤٤٨ هـ"),
    ],
)
def test_known_days(civil: date, expected: str) -> None:
    assert hijri_text(civil, "arab") == expected


def test_the_adjustment_moves_the_day_converted() -> None:
    eve = date(2025, 2, 28)  # the last day of Shaban 1446 by the calculation
    assert hijri_text(eve, "latn") == "29 شعبان 1446 هـ"
    assert hijri_text(eve, "latn", adjust=1) == "1 رمضان 1446 هـ"
    assert hijri_text(date(2025, 3, 1), "latn", adjust=-1) == "29 شعبان 1446 هـ"
    with pytest.raises(ValueError, match="adjust"):
        hijri_date(eve, adjust=2)


def test_days_outside_the_tables_have_no_hijri_date() -> None:
    assert hijri_date(date(1900, 1, 1)) is None
    assert hijri_date(date(2099, 1, 1)) is None
    assert with_hijri("الأحد", date(2099, 1, 1), "arab") == "الأحد"


# --- month names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "month_names", "expected"),
    [
        ("ar_SY", "locale", "كانون الأول"),
        ("ar_EG", "locale", "ديسمبر"),
        ("ar_SY", "both", "كانون الأول/ديسمبر"),
        ("ar_EG", "both", "كانون الأول/ديسمبر"),
        ("ar_LB", "both", "كانون الأول/ديسمبر"),
        ("en", "both", "December"),  # not Arabic: one name
    ],
)
def test_month_names(locale: str, month_names: str, expected: str) -> None:
    day = datetime(2026, 12, 5, 9, 0, tzinfo=DAMASCUS)
    written = rtl.arabic_datetime(day, "d MMMM y", locale, "latn", month_names)
    assert written == f"5 {expected} 2026"


def test_both_month_names_for_every_month() -> None:
    for month in range(1, 13):
        both = rtl.month_name(month, "ar_SY", "both")
        levantine, international = both.split("/")
        assert levantine == rtl.month_name(month, "ar_SY")
        assert international == rtl.month_name(month, "ar_EG")
        assert levantine != international


# --- plural rules ---------------------------------------------------------------------


def arabic_category(n: int) -> str:
    """CLDR's Arabic rules, written out from the specification (the code
    asks Babel): zero 0; one 1; two 2; few n % 100 = 3..10; many
    n % 100 = 11..99; other everything else (100-102, ...)."""
    if n in (0, 1, 2):
        return ("zero", "one", "two")[n]
    if 3 <= n % 100 <= 10:
        return "few"
    if 11 <= n % 100 <= 99:
        return "many"
    return "other"


@pytest.mark.parametrize("n", range(111))
def test_counts_follow_the_arabic_plural_rules(n: int) -> None:
    email = dataclasses.replace(EMAIL, digits="latn")
    expected = NEWS_COUNT[arabic_category(n)].replace("{n}", str(n))
    assert news_count(n, email) == expected


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "لا أخبار"),
        (1, "خبر واحد"),
        (2, "خبران"),
        (3, "٣ أخبار"),
        (10, "١٠ أخبار"),
        (11, "١١ خبراً"),
        (99, "٩٩ خبراً"),
        (100, "١٠٠ خبر"),
        (102, "١٠٢ خبر"),
        (103, "١٠٣ أخبار"),
        (110, "١١٠ أخبار"),
    ],
)
def test_counts_in_words(n: int, words: str) -> None:
    assert news_count(n, EMAIL) == words


# --- in the digest, the archive and the subject ---------------------------------------


def render(tmp_path: Path, email: EmailConfig) -> tuple[str, str, str]:
    planned = plan_edition(FakeStore(articles()), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    site = make_site(tmp_path)
    rendered = render_edition(planned, site, email)
    write_archive(FakeStore(), DAILY, rendered, site, email)
    index = (site.public_dir / "archive" / "daily" / "index.html").read_text(encoding="utf-8")
    return rendered.html.fill({}), rendered.archive_html, index


def text_of(document: str) -> str:
    return " ".join(lxml_html.document_fromstring(document).text_content().split())


def test_the_hijri_date_shows_beside_the_gregorian_one(tmp_path: Path) -> None:
    email = dataclasses.replace(EMAIL, hijri=True)
    html, archive, index = render(tmp_path, email)
    both = "السبت، ٢٨ تشرين الثاني ٢٠٢٦ - ١٨ جمادى الآخرة ١٤٤٨ هـ"
    for document in (html, archive, index):
        assert both in text_of(document)
    adjusted = dataclasses.replace(email, hijri_adjust=1)
    assert "١٩ جمادى الآخرة ١٤٤٨ هـ" in text_of(render(tmp_path / "b", adjusted)[0])


def test_without_hijri_the_dates_are_gregorian_only(tmp_path: Path) -> None:
    html, archive, _ = render(tmp_path, EMAIL)
    assert "هـ" not in text_of(html) and "هـ" not in text_of(archive)
    assert "السبت، ٢٨ تشرين الثاني ٢٠٢٦" in text_of(html)


def test_both_month_names_in_the_digest(tmp_path: Path) -> None:
    html, archive, _ = render(tmp_path, dataclasses.replace(EMAIL, month_names="both"))
    for document in (html, archive):
        page = text_of(document)
        assert "السبت، ٢٨ تشرين الثاني/نوفمبر ٢٠٢٦" in page  # the edition
        assert "٢٨ تشرين الثاني/نوفمبر ٢٠٢٦، ٥:٣٠ ص" in page  # an article


def test_subjects_count_in_words_and_old_templates_still_work(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    email = dataclasses.replace(EMAIL, hijri=True)
    old = dataclasses.replace(DAILY, subject="{{ site_title }}: {{ date }} ({{ count }} أخبار)")
    assert subject_line(old, SLOT, site, email, 7, 0) == (
        "أخبار الشام: السبت، ٢٨ تشرين الثاني ٢٠٢٦ (٧ أخبار)"  # date stays Gregorian
    )
    new = dataclasses.replace(
        DAILY, subject="{{ site_title }}: {{ count_text }} ليوم {{ date }} ({{ hijri_date }})"
    )
    for count, words in ((1, "خبر واحد"), (2, "خبران"), (7, "٧ أخبار"), (11, "١١ خبراً")):
        assert subject_line(new, SLOT, site, email, count, 0) == (
            f"أخبار الشام: {words} ليوم السبت، ٢٨ تشرين الثاني ٢٠٢٦ (١٨ جمادى الآخرة ١٤٤٨ هـ)"
        )


# --- config ----------------------------------------------------------------------------


def with_email(tmp_path: Path, lines: str) -> Path:
    make_config(tmp_path)
    path = tmp_path / "config.yaml"
    text = path.read_text(encoding="utf-8").replace("email:\n", "email:\n" + lines)
    path.write_text(text, encoding="utf-8")
    return path


def test_date_settings_are_read(tmp_path: Path) -> None:
    defaults = make_config(tmp_path).email
    assert (defaults.hijri, defaults.hijri_adjust, defaults.month_names) == (False, 0, "locale")
    email = load_config(
        with_email(tmp_path, "  hijri: true\n  hijri_adjust: -1\n  month_names: both\n")
    ).email
    assert (email.hijri, email.hijri_adjust, email.month_names) == (True, -1, "both")


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ("  hijri_adjust: 2\n", r"email\.hijri_adjust: must be between -1 and 1"),
        ("  hijri: yes please\n", r"email\.hijri: must be bool"),
        ("  month_names: levantine\n", r"email\.month_names: must be 'locale' or 'both'"),
    ],
)
def test_date_settings_are_checked(tmp_path: Path, lines: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(with_email(tmp_path, lines))


def test_subject_names_are_known_to_the_config_check(tmp_path: Path) -> None:
    path = with_email(tmp_path, "")
    text = path.read_text(encoding="utf-8").replace(
        'subject: "{{ digest_title }} ({{ count }})"',
        'subject: "{{ digest_title }}: {{ count_text }} {{ hijri_date }}"',
    )
    path.write_text(text, encoding="utf-8")
    assert "count_text" in load_config(path).digest("evening").subject
