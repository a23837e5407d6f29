"""Checks of single config values: each returns the reason a value is
refused, or None. Pure functions, so the loader reads as a list of keys."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from feedpub import cron
from feedpub.text.rtl import known_locale

_DURATION = re.compile(r"^\s*(\d{1,12})\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def parse_duration(text: str) -> timedelta:
    """'24h', '7d', '90m', '2w', '30s' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 24h, 7d, 90m or 2w")
    try:
        return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise ValueError(f"{text!r} is not a duration such as 24h, 7d, 90m or 2w") from None


def controls(value: str) -> str | None:
    """Refuse control characters (NUL, CR, LF, ...) and lone surrogates:
    they end up in headers, file names and XML."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") and char != "\t":
            return f"must not contain control character U+{ord(char):04X}"
    return None


def url(value: str) -> str | None:
    problem = controls(value)
    if problem:
        return problem
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        return "must be an http(s) URL"
    return None


def store_url(value: str) -> str | None:
    # The two stores feedpub ships drivers for; anything else would only fail
    # later, as "cannot open", with exit status 1 instead of 2.
    value = value.strip()
    if controls(value):
        return "must not contain control characters"
    if value.startswith("postgresql+psycopg://"):
        return None
    if value.startswith("sqlite:///"):
        rest = value.removeprefix("sqlite:///").split("?")[0]
        if rest and not rest.startswith(":memory:") and rest != ":":
            return None
        return "an in-memory SQLite store keeps nothing between runs: name a file"
    if value.startswith("sqlite://"):
        return "an in-memory SQLite store keeps nothing between runs: name a file"
    return "must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return f"unknown time zone {value!r}"
    return None


def address(value: str) -> str | None:
    # Full RFC 5321 checking happens at delivery (email-validator); here we
    # catch the typo early, and CR/LF, which would forge headers.
    problem = controls(value)
    if problem:
        return problem
    if len(value) > 320:
        return "longer than 320 characters"
    found = value.rsplit("<", 1)[-1].rstrip(">").strip()
    return None if _ADDRESS.fullmatch(found) else "not an email address"


def cron_expression(value: str) -> str | None:
    try:
        cron.check_cron(value)
    except (ValueError, OverflowError, IndexError, KeyError) as exc:
        return f"not a cron expression: {exc}"
    return None


def locale(value: str) -> str | None:
    return None if known_locale(value) else f"unknown locale {value!r} (e.g. ar_SY)"


def subject(value: str) -> str | None:
    """A digest subject template (``subject_template.check``)."""
    # Imported here: only a config that sets a subject needs jinja2, and
    # every command would pay its import at start.
    from feedpub.config import subject_template

    return subject_template.check(value, controls(value))


def alert_subject(value: str) -> str | None:
    """An alert's subject template: the article's ``title`` besides the
    digest's names (``subject_template.ALERT_NAMES``)."""
    from feedpub.config import subject_template

    return subject_template.check(value, controls(value), subject_template.ALERT_NAMES)
