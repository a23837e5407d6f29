"""Cron slots: crontab semantics (0 = Sunday), in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from feedpub import scheduler

DAMASCUS = ZoneInfo("Asia/Damascus")
# Sunday 29 November 2026, 05:00 in Damascus
NOW = datetime(2026, 11, 29, 5, 0, tzinfo=DAMASCUS)


@pytest.mark.parametrize(
    ("cron", "latest", "following"),
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
    cron: str, latest: datetime, following: datetime
) -> None:
    assert scheduler.latest_slot(cron, DAMASCUS, NOW) == latest.replace(tzinfo=DAMASCUS)
    assert scheduler.next_slot(cron, DAMASCUS, NOW) == following.replace(tzinfo=DAMASCUS)


def test_a_slot_at_exactly_now_is_the_latest() -> None:
    assert scheduler.latest_slot("0 5 * * *", DAMASCUS, NOW) == NOW


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 25 * * *", "higher than the maximum"),
        ("* * * * 9", "outside 0-7"),
        ("0 7 * *", "needs 5 fields"),
        ("every day", "needs 5 fields"),
    ],
)
def test_bad_cron_is_refused_with_reason(cron: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        scheduler.parse_cron(cron, DAMASCUS)
