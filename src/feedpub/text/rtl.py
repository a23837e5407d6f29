"""Right-to-left text helpers: Latin runs in Arabic HTML, Arabic dates and digits.

Wraps Babel for dates, month names and plural categories (the Hijri date
is ``text.hijri``'s), imported where used: the config checks import this
module, and a command that formats no date (a build) need not load Babel. Nothing here knows about
digests; templates reach these through filters registered by ``digest``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from markupsafe import Markup, escape

RLM = "\u200f"

# language[_Script][_TERRITORY], as Babel names its locale data files.
_LOCALE_NAME = re.compile(r"[a-z]{2,3}(?:_[A-Z][a-z]{3})?(?:_[A-Z]{2}|_[0-9]{3})?")

# A Latin run: starts and ends with a Latin letter or an ASCII digit (a "+"
# may lead a number) and may hold spaces and the punctuation of names, codes,
# numbers and URLs between. Arabic letters end a run, so in "150 كم" only
# "150" is wrapped and the unit stays in the Arabic flow; a URL runs to the
# next space and leaves trailing punctuation outside.
_W = r"A-Za-z0-9\u00c0-\u024f"
_LATIN_RUN = re.compile(
    rf"https?://[^\s\u0600-\u06ff]*[A-Za-z0-9/=#_-]"
    rf"|\+?[{_W}](?:[{_W}%@#&+=_.,:;/'’\- ]*[{_W}%])?"
)

_ARAB_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_LATN_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")


def ltr_html(text: str) -> Markup:
    """Escape plain ``text`` and wrap each Latin run in ``<span dir="ltr">``.

    ``<bdi>`` would be the HTML5 way, but Gmail, Outlook and Yahoo ignore it;
    a span with ``dir`` works in all of them. Only escaped text and our own
    span tags go into the result, so it is safe to mark it up.
    """
    if isinstance(text, Markup):
        # Already-markup input would have its tags cut by the run pattern.
        raise TypeError("ltr_html takes plain text, not Markup")
    pieces: list[str] = []
    position = 0
    for match in _LATIN_RUN.finditer(text):
        run = match.group(0)
        pieces.append(str(escape(text[position : match.start()])))
        pieces.append(f'<span dir="ltr">{escape(run)}</span>')
        position = match.end()
    pieces.append(str(escape(text[position:])))
    return Markup("".join(pieces))


def shape_digits(text: str, digits: str) -> str:
    """Write digits as Arabic-Indic (``arab``: ٠١٢) or European (``latn``: 012).

    Babel's ar_SY data names ``arab`` as the default numbering system, yet its
    date formatting emits ASCII digits, so the choice is applied here.
    """
    if digits == "arab":
        return text.translate(_ARAB_DIGITS)
    if digits == "latn":
        return text.translate(_LATN_DIGITS)
    raise ValueError(f"digits must be 'arab' or 'latn', got {digits!r}")


MONTH_NAMES = ("locale", "both")
# The two families of Arabic month names: the Syriac-derived ones of the
# Levant and Iraq (CLDR ar_SY: كانون الأول) and the Latin-derived ones of
# Egypt and the Gulf (CLDR ar_EG: ديسمبر). "both" writes them as pan-Arab
# media do, «كانون الأول/ديسمبر».
_LEVANTINE, _INTERNATIONAL = "ar_SY", "ar_EG"


def month_name(month: int, locale: str, month_names: str = "locale") -> str:
    """The month's wide name: the locale's own, or with ``both`` the
    Levantine and the international names «كانون الأول/ديسمبر» (the
    locale's own for a language other than Arabic)."""
    from babel import Locale
    from babel.dates import get_month_names

    if month_names not in MONTH_NAMES:
        raise ValueError(f"month_names must be 'locale' or 'both', got {month_names!r}")
    if month_names == "both" and Locale.parse(locale).language == "ar":
        levantine = get_month_names("wide", "format", _LEVANTINE)[month]
        international = get_month_names("wide", "format", _INTERNATIONAL)[month]
        return f"{levantine}/{international}"
    return str(get_month_names("wide", "format", locale)[month])


def arabic_datetime(
    value: datetime, pattern: str, locale: str, digits: str, month_names: str = "locale"
) -> str:
    """``value`` (tz-aware, already in the wanted zone) formatted with a CLDR
    ``pattern``; ar_SY names the Levantine months (تشرين الثاني); with
    ``month_names="both"`` the pattern's MMMM is «تشرين الثاني/نوفمبر»."""
    if month_names != "locale" and "MMMM" in pattern:
        # A quoted literal in the pattern ('' is a quote inside one).
        name = month_name(value.month, locale, month_names).replace("'", "''")
        pattern = pattern.replace("MMMM", f"'{name}'")
    from babel.dates import format_datetime

    formatted = format_datetime(value, pattern, tzinfo=value.tzinfo, locale=locale)
    return shape_digits(formatted, digits)


def plural(count: int, forms: Mapping[str, str], locale: str, digits: str) -> str:
    """The phrase for ``count`` by CLDR plural category (Arabic has six:
    zero, one, two, few, many, other); ``{n}`` in a form is the number.
    A missing category falls back to ``other``."""
    from babel import Locale

    category = Locale.parse(locale).plural_form(count)
    form = forms.get(category, forms["other"])
    return form.replace("{n}", shape_digits(str(count), digits))


def known_locale(name: str) -> bool:
    """True when Babel has data for ``name`` (``ar_SY``). The config checks
    this at load so a typo is exit 2, not a failure at the first digest.
    Babel also accepts ``ar_SY.UTF-8`` or ``ar_SY@x``; only the plain form
    is allowed, as the locale names files and headers downstream."""
    if not _LOCALE_NAME.fullmatch(name):
        return False
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(name)
    except (ValueError, TypeError, UnknownLocaleError):
        return False
    return True
