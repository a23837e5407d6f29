"""What the digests need to know of the site, and the formatting the email
and the web archive share.

``Site`` is a small frozen value that ``app`` builds from the config: the
digests never see the whole ``Config``, so a test of the renderer builds only
this, a ``DigestConfig`` and an ``EmailConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path

import jinja2

from feedpub import templating
from feedpub.config import DigestConfig, EmailConfig
from feedpub.text import rtl
from feedpub.text.hijri import hijri_text, with_hijri

# «N أخبار» by Arabic plural category (CLDR: rtl.plural picks the form):
# خبر واحد، خبران، ٣ أخبار، ١١ خبراً، ١٠٠ خبر.
NEWS_COUNT = {
    "zero": "لا أخبار",
    "one": "خبر واحد",
    "two": "خبران",
    "few": "{n} أخبار",
    "many": "{n} خبراً",
    "other": "{n} خبر",
}

# The stylesheet of every page under feeds.url, written there by the feed
# build (feeds.urls.STYLE_PATH): the web archive links it too.
STYLE_PATH = "style.css"

_EDITION_DATE = "EEEE، d MMMM y"
_EDITION_DATE_TIME = "EEEE، d MMMM y، h:mm a"


@dataclass(frozen=True)
class Site:
    title: str
    url: str  # the home page: article links resolve against it
    language: str
    timezone: tzinfo  # slots and dates are shown in it
    domain: str  # Message-ID and List-Id
    public_url: str  # where public_dir is served (feeds.url): the archive's links
    public_dir: Path  # where the archive pages are written (feeds.output)

    @property
    def style_url(self) -> str:
        """The pages' one stylesheet, which the archive pages link."""
        return f"{self.public_url}/{STYLE_PATH}"


@cache
def environment() -> jinja2.Environment:
    """The shared template environment plus the digest filters, as an overlay
    (own filters and template cache, compiled once per process) so the
    shared environment is not modified."""
    env = templating.environment().overlay()
    env.filters = {**env.filters, "ltr": rtl.ltr_html}
    return env


def several_a_day(schedule: str) -> bool:
    """Whether the cron schedule can fire more than once a day (any minute or
    hour field that is not one plain number)."""
    fields = schedule.split()[:2]
    if len(fields) < 2:  # an alert has no schedule: it comes at any time
        return True
    minute, hour = fields
    return not (minute.isdigit() and hour.isdigit())


def edition_date(
    digest: DigestConfig, slot: datetime, site: Site, email: EmailConfig, *, hijri: bool = True
) -> str:
    """The slot's date in Arabic, with the time when the digest can run
    several times a day, and (``email.hijri``, unless ``hijri`` is False)
    the Hijri date beside it."""
    pattern = _EDITION_DATE_TIME if several_a_day(digest.schedule) else _EDITION_DATE
    local = slot.astimezone(site.timezone)
    written = rtl.arabic_datetime(local, pattern, email.locale, email.digits, email.month_names)
    if hijri and email.hijri:
        written = with_hijri(written, local.date(), email.digits, email.hijri_adjust)
    return written


def news_count(count: int, email: EmailConfig) -> str:
    """«٣ أخبار»: ``count`` news in words, by the locale's plural rules."""
    return rtl.plural(count, NEWS_COUNT, email.locale, email.digits)


def hijri_date(slot: datetime, site: Site, email: EmailConfig) -> str:
    """The slot's Hijri date «١٨ جمادى الآخرة ١٤٤٨ هـ» (whether or not
    email.hijri shows it beside the dates; "" outside the tables)."""
    local = slot.astimezone(site.timezone)
    return hijri_text(local.date(), email.digits, email.hijri_adjust) or ""
