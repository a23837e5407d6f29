"""Cron slots: crontab semantics (0 = Sunday), in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from feedpub import cron

DAMASCUS = ZoneInfo("Asia/Damascus")
# Sunday 29 November 2026, 05:00 in Damascus
NOW = datetime(2026, 11, 29, 5, 0, tzinfo=DAMASCUS)


@pytest.mark.parametrize(
    ("expression", "latest", "following"),
    [
        ("0 7 * * *", datetime(2026, 11, 28, 7, 0), datetime(2026, 11, 29, 7, 0)),
        ("*/5 * * * *", datetime(2026, 11, 29, 5, 0), datetime(2026, 11, 29, 5, 5)),
        ("0 6 * * 5", datetime(2026, 11, 27, 6, 0), datetime(2026, 12, 4, 6, 0)),  # Friday
        ("0 6 * * 0", datetime(2026, 11, 22, 6, 0), datetime(2026, 11, 29, 6, 0)),  # Sunday
        ("0 6 * * 7", datetime(2026, 11, 22, 6, 0), datetime(2026, 11, 29, 6, 0)),  # Sunday too
        ("0 6 * * 1-5", datetime(2026, 11, 27, 6, 0), datetime(2026, 11, 30, 6, 0)),
        ("0 6 * * sat", datetime(2026, 11, 28, 6, 0), datetime(2026, 12, 5, 6, 0)),
        ("0 0 1 1 *", datetime(2026, 1, 1, 0, 0), datetime(2027, 1, 1, 0, 0)),
    ],
)
def test_slots_follow_crontab_weekdays_in_site_time(
    expression: str, latest: datetime, following: datetime
) -> None:
    assert cron.latest_slot(expression, DAMASCUS, NOW) == latest.replace(tzinfo=DAMASCUS)
    assert cron.next_slot(expression, DAMASCUS, NOW) == following.replace(tzinfo=DAMASCUS)


def test_a_slot_at_exactly_now_is_the_latest() -> None:
    assert cron.latest_slot("0 5 * * *", DAMASCUS, NOW) == NOW


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 25 * * *", "Bad hour"),
        ("* * * * 9", "Bad day-of-week"),
        ("0 7 * *", "needs 5 fields"),
        ("every day", "needs 5 fields"),
    ],
)
def test_bad_cron_is_refused_with_reason(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        cron.check_cron(expression)
