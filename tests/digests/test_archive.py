"""The digests' web archive: the edition page (browser HTML, no recipient
slots), the index, and file names by slot."""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from lxml import html as lxml_html

from feedpub.digests import (
    Site,
    archive_path,
    edition_record,
    plan_edition,
    render_edition,
    write_archive,
)
from support.digest_fixtures import (
    DAILY,
    DAMASCUS,
    EMAIL,
    EVENING,
    NOW,
    SLOT,
    FakeStore,
    articles,
    make_site,
)
from support.digest_render import rendered_demo


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


# --- the web archive -----------------------------------------------------------


def test_archive_page_is_browser_html(site: Site) -> None:
    rendered = rendered_demo(site)
    page = rendered.archive_html
    assert page.startswith("<!DOCTYPE html>")
    doc = lxml_html.document_fromstring(page)
    assert doc.get("lang") == "ar" and doc.get("dir") == "rtl"
    assert doc.xpath("//meta[@name='viewport']")
    assert doc.xpath("//meta[@charset='utf-8']")
    # No email-only presentational attributes, no tables, no placeholders.
    for attribute in ("align", "bgcolor", "cellpadding", "cellspacing", "border"):
        assert not doc.xpath(f"//*[@{attribute}]"), attribute
    assert not doc.xpath("//table | //*[@width][not(self::img)] | //script")
    assert "%%" not in page
    assert [" ".join(h.text_content().split()) for h in doc.xpath("//h2")] == [
        a.title for a in articles()
    ]
    assert all(href.startswith("https://") for href in doc.xpath("//@href | //@src"))


def test_write_archive_pages_and_index(site: Site) -> None:
    store = FakeStore(articles())
    daily = DAILY
    written: list[Path] = []
    for day in range(3):
        now = NOW + timedelta(days=day)
        store.stored.extend(
            dataclasses.replace(a, id=f"d{day}-{a.id}")
            for a in articles(SLOT + timedelta(days=day))
        )
        planned = plan_edition(store, daily, now, tz=DAMASCUS)
        assert planned is not None
        rendered = render_edition(planned, site, EMAIL)
        store.add_edition(edition_record(planned, rendered, now))
        written = write_archive(store, daily, rendered, site, EMAIL)
    folder = site.public_dir / "archive" / "daily"
    assert written == [folder / "2026-11-30.html", folder / "index.html"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "2026-11-28.html",
        "2026-11-29.html",
        "2026-11-30.html",
        "index.html",
    ]
    index = lxml_html.document_fromstring((folder / "index.html").read_text(encoding="utf-8"))
    assert index.xpath("//li/a/@href") == [
        "https://news.example.org/archive/daily/2026-11-30.html",
        "https://news.example.org/archive/daily/2026-11-29.html",
        "https://news.example.org/archive/daily/2026-11-28.html",
    ]
    assert "الاثنين، ٣٠ تشرين الثاني ٢٠٢٦" in index.text_content()
    assert index.get("dir") == "rtl" and index.xpath("//meta[@name='viewport']")


def test_archive_name_has_the_time_when_a_digest_runs_twice_a_day(site: Site) -> None:
    evening = EVENING  # "0 7,19 * * *"
    slot = SLOT.replace(hour=19).astimezone(UTC)
    assert archive_path(evening, slot, DAMASCUS) == "archive/evening/2026-11-28-1900.html"
    assert archive_path(DAILY, SLOT, DAMASCUS) == ("archive/daily/2026-11-28.html")
