"""Planning and rendering breaking-news alerts: which articles are new to an
alert digest, the daily cap in the site's local day, the (digest, slot) key
of each article's alert, and the alert email (golden files)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from feedpub.digests import RenderedEdition, alert_slot, plan_alerts, render_edition
from feedpub.digests.alerts import day_start
from feedpub.digests.message import build_message
from feedpub.digests.plan import PlannedEdition
from feedpub.model import Article, Edition
from support.alert_stories import NOW, story
from support.digest_fixtures import BREAKING, DAMASCUS, EMAIL, FakeStore, make_site
from support.digest_message import check_golden, reparsed, scrub

TO = "سامي <sami@example.com>"


def ids(articles: tuple[Article, ...]) -> list[str]:
    return [a.id for a in articles]


def test_a_new_article_in_the_tags_is_due_and_others_are_not() -> None:
    store = FakeStore(
        [
            story("breaking"),
            story("sport", tags=("رياضة",)),
            # a new source's back catalogue: first seen now, published last week
            story("old", published=NOW - timedelta(days=7)),
            # seen three hours ago: beyond the alert's reach (first_lookback 2h)
            story("stale", seen=NOW - timedelta(hours=3), published=NOW - timedelta(hours=3)),
        ]
    )
    planned = plan_alerts(store, BREAKING, NOW, tz=DAMASCUS)
    assert ids(planned.send) == ["breaking"] and planned.over_cap == ()


def test_an_article_seen_before_the_last_look_never_alerts_even_tagged_later() -> None:
    # Seen at 09:55 without the tag; the alert digest looked at 10:00; an
    # edit gave it the tag since: an edit is not news.
    store = FakeStore([story("edited", seen=NOW - timedelta(minutes=7))])
    store.set_alerts_seen("breaking", NOW - timedelta(minutes=2))
    assert plan_alerts(store, BREAKING, NOW, tz=DAMASCUS).send == ()


def test_an_article_an_alert_holds_or_left_out_is_not_due_again() -> None:
    sent, skipped, fresh = story("sent"), story("skipped"), story("fresh")
    store = FakeStore([sent, skipped, fresh])
    store.add_edition(Edition("breaking", alert_slot(sent), ("sent",), NOW))
    store.add_edition(Edition("breaking", alert_slot(skipped), (), NOW, left_out=("skipped",)))
    assert ids(plan_alerts(store, BREAKING, NOW, tz=DAMASCUS).send) == ["fresh"]


def test_the_day_cap_counts_the_sites_local_day() -> None:
    new = [story(f"n{i}", published=NOW - timedelta(minutes=10 - i)) for i in range(4)]
    store = FakeStore(new)
    # Three alerts sent earlier today (one just after local midnight, 21:05 UTC
    # the day before) and one yesterday evening, which does not count.
    midnight = day_start(NOW, DAMASCUS)
    for i, made in enumerate(
        [midnight + timedelta(minutes=5), NOW - timedelta(hours=2), NOW - timedelta(hours=1)]
    ):
        store.add_edition(Edition("breaking", made, (f"today{i}",), made))
    yesterday = midnight - timedelta(minutes=30)
    store.add_edition(Edition("breaking", yesterday, ("yesterday",), yesterday))
    planned = plan_alerts(store, BREAKING, NOW, tz=DAMASCUS)
    assert planned.sent_today == 3
    # oldest first: the first two fill the cap of five, the rest wait
    assert ids(planned.send) == ["n0", "n1"]
    assert ids(planned.over_cap) == ["n2", "n3"]


def test_every_run_keys_an_articles_alert_alike_and_apart_from_the_others() -> None:
    one, two = story("one"), story("two")
    assert alert_slot(one) == alert_slot(dataclasses.replace(one, title="عنوان معدّل"))
    assert alert_slot(one) != alert_slot(two)
    for slot in (alert_slot(one), alert_slot(two)):
        assert NOW.replace(second=0) <= slot < NOW.replace(second=0) + timedelta(seconds=1)


def test_day_start_is_local_midnight_in_utc() -> None:
    assert day_start(NOW, DAMASCUS) == datetime(2026, 11, 29, 21, 0, tzinfo=UTC)


# --- the email ------------------------------------------------------------------------


@pytest.fixture
def rendered(tmp_path: Path) -> RenderedEdition:
    """The alert of the one new article, as the edition flow renders it."""
    store = FakeStore([story("latakia")])
    (article,) = plan_alerts(store, BREAKING, NOW, tz=DAMASCUS).send
    slot = alert_slot(article)
    planned = PlannedEdition(BREAKING, slot.astimezone(DAMASCUS), None, slot, (article,))
    return render_edition(planned, make_site(tmp_path), EMAIL)


def build(rendered: RenderedEdition, tmp_path: Path) -> EmailMessage:
    return build_message(
        rendered,
        BREAKING,
        make_site(tmp_path),
        EMAIL,
        to=TO,
        unsubscribe_token="t0k/+=",
        now=NOW,
        preferences_token="pr3f/+=",
    )


def test_the_alert_email_matches_golden(rendered: RenderedEdition, tmp_path: Path) -> None:
    message = build(rendered, tmp_path)
    check_golden("alert.eml", scrub(message.as_bytes()))
    parsed = reparsed(message)
    html, text = parsed.get_body(("html",)), parsed.get_body(("plain",))
    assert html is not None and text is not None
    check_golden("alert.html", html.get_content())
    check_golden("alert.txt", text.get_content())


def test_the_alert_is_the_article_right_to_left_with_the_list_headers(
    rendered: RenderedEdition, tmp_path: Path
) -> None:
    parsed = reparsed(build(rendered, tmp_path))
    assert parsed["Subject"] == "عاجل: انفجار في مستودع للوقود قرب ميناء اللاذقية"
    assert parsed["List-Id"] == "عاجل <breaking.news.example.org>"
    assert parsed["List-Unsubscribe"] == (
        "<https://news.example.org/unsubscribe/breaking/t0k%2F%2B%3D>, "
        "<mailto:unsubscribe@news.example.org?subject=unsubscribe%20t0k%2F%2B%3D>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html_part = parsed.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert '<html lang="ar" dir="rtl">' in html
    assert "انفجار في مستودع للوقود قرب ميناء اللاذقية" in html
    assert "أفاد مراسلنا بسماع دوي انفجار قوي" in html  # the lead
    assert 'src="https://news.example.org/media/latakia-port.jpg"' in html
    assert 'width="552" height="310"' in html
    # «view in browser» is the article's own page: an alert has no archive copy
    assert '<a class="footer-link" href="https://news.example.org/news/latakia"' in html
    assert "/archive/" not in html


def test_an_alert_writes_no_archive_page(rendered: RenderedEdition) -> None:
    assert rendered.archive_html == "" and rendered.archive_path == ""
