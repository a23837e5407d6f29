"""Right-to-left helpers: Latin runs in Arabic HTML, Babel dates and digits."""

from __future__ import annotations

from datetime import datetime

import pytest
from markupsafe import Markup

from feedpub.text import rtl
from feedpub.text.rtl import ltr_html
from support.digest_fixtures import DAMASCUS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("خبر عربي فقط", "خبر عربي فقط"),
        ("قال Vladimir Putin إن", 'قال <span dir="ltr">Vladimir Putin</span> إن'),
        ("إصابات COVID-19 اليوم", 'إصابات <span dir="ltr">COVID-19</span> اليوم'),
        # The number is wrapped, the Arabic unit stays in the Arabic flow.
        ("بطول 150 كم", 'بطول <span dir="ltr">150</span> كم'),
        ("بنسبة 3.5% فقط", 'بنسبة <span dir="ltr">3.5%</span> فقط'),
        ("على +963 11 2345 678 الآن", 'على <span dir="ltr">+963 11 2345 678</span> الآن'),
        ("بين BBC و CNN.", 'بين <span dir="ltr">BBC</span> و <span dir="ltr">CNN</span>.'),
        (
            "راجع https://example.org/a?b=1&c=2، ثم",
            'راجع <span dir="ltr">https://example.org/a?b=1&amp;c=2</span>، ثم',
        ),
        # Escaped first: markup in article text stays text.
        ("<b>عاجل</b>", '&lt;<span dir="ltr">b</span>&gt;عاجل&lt;/<span dir="ltr">b</span>&gt;'),
        ('"اقتباس" & رد', "&#34;اقتباس&#34; &amp; رد"),
        ("", ""),
    ],
)
def test_ltr_html_wraps_latin_runs_in_escaped_text(text: str, expected: str) -> None:
    result = ltr_html(text)
    assert isinstance(result, Markup)
    assert str(result) == expected


def test_ltr_html_refuses_markup() -> None:
    with pytest.raises(TypeError):
        ltr_html(Markup("<a href='https://x.org'>x</a>"))


def test_ltr_html_uses_span_not_bdi() -> None:
    assert "<bdi" not in ltr_html("اسم Ahmad")


NOV_28 = datetime(2026, 11, 28, 7, 5, tzinfo=DAMASCUS)


def test_babel_levantine_month_with_arabic_indic_digits() -> None:
    text = rtl.arabic_datetime(NOV_28, "EEEE، d MMMM y، h:mm a", "ar_SY", "arab")
    assert text == "السبت، ٢٨ تشرين الثاني ٢٠٢٦، ٧:٠٥ ص"


def test_babel_levantine_month_with_latin_digits() -> None:
    assert rtl.arabic_datetime(NOV_28, "d MMMM y", "ar_SY", "latn") == "28 تشرين الثاني 2026"


def test_plain_ar_locale_names_the_egyptian_month() -> None:
    # Why ar_SY matters: "ar" says نوفمبر, the Levant says تشرين الثاني.
    assert "نوفمبر" in rtl.arabic_datetime(NOV_28, "MMMM", "ar", "arab")


def test_shape_digits_both_ways() -> None:
    assert rtl.shape_digits("2026-11-28", "arab") == "٢٠٢٦-١١-٢٨"
    assert rtl.shape_digits("٢٠٢٦", "latn") == "2026"
    with pytest.raises(ValueError):
        rtl.shape_digits("1", "roman")


FORMS = {
    "one": "خبر واحد",
    "two": "خبران",
    "few": "{n} أخبار",
    "many": "{n} خبراً",
    "other": "{n} خبر",
}


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "خبر واحد"),
        (2, "خبران"),
        (3, "٣ أخبار"),
        (10, "١٠ أخبار"),
        (11, "١١ خبراً"),
        (100, "١٠٠ خبر"),
    ],
)
def test_plural_uses_arabic_categories(count: int, expected: str) -> None:
    assert rtl.plural(count, FORMS, "ar_SY", "arab") == expected
