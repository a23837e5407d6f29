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
    minute, hour = schedule.split()[:2]
    return not (minute.isdigit() and hour.isdigit())


def edition_date(digest: DigestConfig, slot: datetime, site: Site, email: EmailConfig) -> str:
    """The slot's date in Arabic, with the time when the digest can run
    several times a day."""
    pattern = _EDITION_DATE_TIME if several_a_day(digest.schedule) else _EDITION_DATE
    local = slot.astimezone(site.timezone)
    return rtl.arabic_datetime(local, pattern, email.locale, email.digits)
