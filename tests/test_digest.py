"""Digest editions: planning (identity, only_if_new), the rendered email's
structure, the text part, the size guard and the web archive."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import UTC, timedelta
from pathlib import Path
from typing import cast

import pytest
from lxml import html as lxml_html

from _digest_fixtures import NOW, SLOT, FakeStore, articles, big_articles, make_config
from feedpub import app as pipeline
from feedpub import digests as digest_mod
from feedpub.config import Config
from feedpub.digests import RenderedEdition, plan_edition, render_edition, write_archive
from feedpub.digests.message import GREETING, UNSUBSCRIBE_URL, personalize
from feedpub.model import Article
from feedpub.store import SqlStore
from feedpub.text.rtl import RLM


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def rendered_demo(cfg: Config, stored: list[Article] | None = None) -> RenderedEdition:
    planned = plan_edition(FakeStore(stored or articles()), cfg, cfg.digest("daily"), NOW)
    assert planned is not None
    return render_edition(planned, cfg)


# --- planning ------------------------------------------------------------------


def test_first_edition_reaches_back_first_lookback(cfg: Config) -> None:
    old = dataclasses.replace(articles()[0], id="old", published=SLOT - timedelta(hours=25))
    planned = plan_edition(FakeStore([*articles(), old]), cfg, cfg.digest("daily"), NOW)
    assert planned is not None
    assert planned.slot == SLOT
    assert planned.after == SLOT - timedelta(hours=24)
    assert planned.article_ids == ("a1", "a2", "a3", "a4", "a5")  # newest first, not "old"


def test_articles_after_the_slot_wait_for_the_next_edition(cfg: Config) -> None:
    late = dataclasses.replace(articles()[0], id="late", published=SLOT + timedelta(minutes=10))
    planned = plan_edition(FakeStore([*articles(), late]), cfg, cfg.digest("daily"), NOW)
    assert planned is not None
    assert "late" not in planned.article_ids


def test_only_if_new_and_nothing_new_gives_none(cfg: Config) -> None:
    assert plan_edition(FakeStore([]), cfg, cfg.digest("daily"), NOW) is None


def test_without_only_if_new_an_empty_edition_says_there_is_nothing_new(cfg: Config) -> None:
    daily = dataclasses.replace(cfg.digest("daily"), only_if_new=False)
    planned = plan_edition(FakeStore([]), cfg, daily, NOW)
    assert planned is not None and planned.articles == ()
    rendered = render_edition(planned, cfg)
    assert rendered.articles == () and rendered.dropped == 0
    assert "<h2" not in rendered.html
    notice = digest_mod.NOTHING_NEW
    doc = email_doc(rendered, cfg)
    assert [p.text_content() for p in doc.xpath("//td[@class='empty']/p")] == [notice]
    preheader = doc.xpath("//div[contains(@class, 'preheader')]")[0]
    assert preheader.text_content() == notice
    assert f"\n{RLM}{notice}\n" in rendered.text
    archive = lxml_html.document_fromstring(rendered.archive_html)
    assert [p.text_content() for p in archive.xpath("//section[@class='empty']/p")] == [notice]


def test_the_nothing_new_notice_is_only_for_an_empty_edition(tmp_path: Path) -> None:
    # An edition whose articles were all left out for size says how many are
    # on the site instead; one with articles says neither.
    assert digest_mod.NOTHING_NEW not in rendered_demo(make_config(tmp_path)).html
    tiny = make_config(tmp_path, max_html_bytes=8_600)
    rendered = rendered_demo(tiny, big_articles(3))
    assert rendered.articles == () and rendered.dropped == 3
    for page in (rendered.html, rendered.text, rendered.archive_html):
        assert digest_mod.NOTHING_NEW not in page
        assert "على الموقع" in page


def test_max_items_caps_newest_first(cfg: Config) -> None:
    daily = dataclasses.replace(cfg.digest("daily"), max_items=2)
    planned = plan_edition(FakeStore(articles()), cfg, daily, NOW)
    assert planned is not None and planned.article_ids == ("a1", "a2")


def test_same_slot_twice_makes_one_edition(cfg: Config) -> None:
    store = FakeStore(articles())
    daily = cfg.digest("daily")
    planned = plan_edition(store, cfg, daily, NOW)
    assert planned is not None
    edition = digest_mod.edition_record(planned, render_edition(planned, cfg), NOW)
    assert store.add_edition(edition)
    # The same run again, and a later run still inside the same slot.
    assert plan_edition(store, cfg, daily, NOW) is None
    assert plan_edition(store, cfg, daily, NOW + timedelta(hours=20)) is None
    assert len(store.editions("daily")) == 1


def test_next_slot_picks_only_newer_articles(cfg: Config) -> None:
    store = FakeStore(articles())
    daily = cfg.digest("daily")
    first = plan_edition(store, cfg, daily, NOW)
    assert first is not None
    store.add_edition(digest_mod.edition_record(first, render_edition(first, cfg), NOW))

    next_slot = SLOT + timedelta(days=1)
    # two new stories for tomorrow
    store.stored.extend(dataclasses.replace(a, id=f"new-{a.id}") for a in articles(next_slot)[:2])
    second = plan_edition(store, cfg, daily, NOW + timedelta(days=1))
    assert second is not None
    assert second.slot == next_slot
    assert second.after == SLOT
    assert second.article_ids == ("new-a1", "new-a2")


def test_edition_record_holds_what_the_email_holds(cfg: Config) -> None:
    planned = plan_edition(FakeStore(articles()), cfg, cfg.digest("daily"), NOW)
    assert planned is not None
    rendered = render_edition(planned, cfg)
    edition = digest_mod.edition_record(planned, rendered, NOW)
    assert (edition.digest, edition.slot, edition.created) == ("daily", SLOT, NOW)
    assert edition.article_ids == planned.article_ids
    assert edition.dropped == 0


def test_tagged_digest_selects_its_tags_only(cfg: Config) -> None:
    planned = plan_edition(FakeStore(articles()), cfg, cfg.digest("evening"), NOW)
    assert planned is not None
    assert planned.article_ids == ("a1",)  # the only story tagged روسيا


def test_preview_shows_the_coming_slot_when_the_current_one_is_done(cfg: Config) -> None:
    store = FakeStore(articles())
    daily = cfg.digest("daily")
    first = plan_edition(store, cfg, daily, NOW)
    assert first is not None
    store.add_edition(digest_mod.edition_record(first, render_edition(first, cfg), NOW))
    fresh = dataclasses.replace(articles()[0], id="fresh", published=NOW - timedelta(minutes=5))
    store.stored.append(fresh)
    preview = digest_mod.preview_edition(store, cfg, daily, NOW)
    assert preview.slot == SLOT + timedelta(days=1)
    assert preview.article_ids == ("fresh",)
    assert store.editions("daily") == [store.recorded[0]]  # nothing recorded


# --- the email's HTML ----------------------------------------------------------


def email_doc(rendered: RenderedEdition, cfg: Config) -> lxml_html.HtmlElement:
    html, _ = personalize(rendered, cfg, to="Sami <sami@example.com>", unsubscribe_token="t0k")
    return lxml_html.document_fromstring(html)


def test_lang_and_dir_on_html_and_body(cfg: Config) -> None:
    doc = email_doc(rendered_demo(cfg), cfg)
    assert doc.get("lang") == "ar" and doc.get("dir") == "rtl"
    body = doc.find("body")
    assert body is not None
    assert body.get("dir") == "rtl" and body.get("align") == "right"
    assert "direction:rtl" in body.get("style", "") and "text-align:right" in body.get("style", "")


# Centred so the 600px column sits in the middle of a wide window; everything
# else is right-aligned.
CENTRED = {"wrapper-cell", "container"}


def test_every_table_and_cell_carries_direction_by_attribute_and_inline_style(
    cfg: Config,
) -> None:
    doc = email_doc(rendered_demo(cfg), cfg)
    elements = doc.xpath("//table | //td")
    assert len(elements) >= 10
    assert {e.get("class") for e in elements} >= CENTRED
    for element in elements:
        style = element.get("style", "").replace(" ", "")
        where = f"<{element.tag} class={element.get('class')}>"
        align = "center" if element.get("class") in CENTRED else "right"
        assert element.get("dir") == "rtl", where
        assert element.get("align") == align, where
        assert "direction:rtl" in style and f"text-align:{align}" in style, where
    # The column itself is centred by attribute and by margin, for clients
    # that honour only one of them.
    container = doc.xpath("//table[@class='container']")[0]
    assert "margin:0auto" in container.get("style", "").replace(" ", "")


def test_no_logical_text_align(cfg: Config) -> None:
    # start/end are not understood by Outlook for Windows, Yahoo and AOL.
    rendered = rendered_demo(cfg)
    for page in (rendered.html, rendered.archive_html):
        flat = page.replace(" ", "")
        assert "text-align:start" not in flat and "text-align:end" not in flat


def test_every_cell_has_its_own_background_for_dark_mode(cfg: Config) -> None:
    # Dark-mode clients recolour what they must guess at: every cell names its
    # background (inline and as bgcolor), and the email declares itself light.
    doc = email_doc(rendered_demo(cfg), cfg)
    for cell in doc.xpath("//body | //table | //td"):
        where = f"<{cell.tag} class={cell.get('class')}>"
        assert re.search(r"background-color:\s*#[0-9a-f]{3,6}", cell.get("style", "")), where
        assert re.fullmatch(r"#[0-9a-f]{6}", cell.get("bgcolor", "")), where
    schemes = {m.get("name"): m.get("content") for m in doc.xpath("//meta[@name]")}
    assert schemes["color-scheme"] == "light"
    assert schemes["supported-color-schemes"] == "light"


def test_layout_does_not_depend_on_the_style_block(cfg: Config) -> None:
    # Gmail and others drop <style>: the inline styles alone must carry the
    # width, direction, alignment, fonts and the hidden preheader.
    doc = email_doc(rendered_demo(cfg), cfg)
    for style in doc.xpath("//style"):
        style.getparent().remove(style)
    container = doc.xpath("//table[contains(@class, 'container')]")[0]
    assert container.get("width") == "600"
    assert "width:600px" in container.get("style").replace(" ", "")
    for cell in doc.xpath("//td"):
        style = cell.get("style")
        assert "Tahoma" in style and "line-height:1.7" in style
    for title in doc.xpath("//h2"):
        assert "text-align:right" in title.get("style").replace(" ", "")
    preheader = doc.xpath("//div[contains(@class, 'preheader')]")[0]
    hidden = preheader.get("style").replace(" ", "")
    for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all"):
        assert rule in hidden


def test_media_query_narrows_the_layout_on_phones(cfg: Config) -> None:
    html = rendered_demo(cfg).html
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    media = style.group(1)[style.group(1).index("@media") :]
    assert "max-width: 620px" in media
    assert re.search(r"\.container\s*\{[^}]*width:\s*100%\s*!important", media)


def test_no_script_and_every_link_absolute(cfg: Config) -> None:
    doc = email_doc(rendered_demo(cfg), cfg)
    assert not doc.xpath("//script") and "javascript:" not in lxml_html.tostring(doc).decode()
    links = doc.xpath("//@href | //@src")
    assert len(links) > 10
    for link in links:
        assert link.startswith("https://"), link


def test_relative_and_scripted_article_links_are_made_safe(cfg: Config) -> None:
    story = dataclasses.replace(
        articles()[0], url="javascript:alert(1)", image="//cdn.example.org/a.jpg"
    )
    doc = email_doc(rendered_demo(cfg, [story]), cfg)
    hrefs = doc.xpath("//h2/a/@href")
    assert hrefs == ["https://news.example.org"]
    assert doc.xpath("//img/@src") == ["https://cdn.example.org/a.jpg"]


def test_article_content(cfg: Config) -> None:
    rendered = rendered_demo(cfg)
    doc = email_doc(rendered, cfg)
    titles = [" ".join(h.text_content().split()) for h in doc.xpath("//h2")]
    assert titles == [a.title for a in articles()]
    first = doc.xpath("//h2/a")[0]
    assert first.get("href") == "https://news.example.org/news/2026/11/1"
    page = doc.text_content()
    assert "٢٨ تشرين الثاني ٢٠٢٦، ٥:٣٠ ص" in page  # 02:30 UTC in Damascus, Arabic digits
    assert "روسيا، بوتين، الأسد" in page
    assert page.count("اقرأ المزيد") == 5
    assert "وكالة TASS." in page
    images = doc.xpath("//img")
    assert [img.get("alt") for img in images] == [articles()[0].title, articles()[2].title]
    assert all(img.get("width") == "552" for img in images)


def test_latin_runs_wrapped_in_ltr_spans(cfg: Config) -> None:
    doc = email_doc(rendered_demo(cfg), cfg)
    spans = [s.text for s in doc.xpath("//span[@dir='ltr']")]
    assert "COVID-19" in spans and "Vladimir Putin" in spans and "150" in spans
    assert not doc.xpath("//bdi")


def test_preheader_is_the_top_story_lead(cfg: Config) -> None:
    doc = email_doc(rendered_demo(cfg), cfg)
    preheader = doc.xpath("//div[contains(@class, 'preheader')]")[0]
    assert preheader.text_content().startswith("استقبل الرئيس الروسي Vladimir Putin")
    # It is the first thing in the body, so inbox previews show it.
    assert doc.find("body")[0] is preheader


def test_header_and_footer(cfg: Config) -> None:
    rendered = rendered_demo(cfg)
    assert f'href="{UNSUBSCRIBE_URL}"' in rendered.html
    assert GREETING in rendered.html
    doc = email_doc(rendered, cfg)
    page = doc.text_content()
    assert "أخبار الشام" in page and "النشرة اليومية" in page
    assert "السبت، ٢٨ تشرين الثاني ٢٠٢٦" in page
    assert "مرحباً Sami،" in page
    assert "أخبار الشام، شارع بغداد 12، دمشق، سورية" in page
    links = {
        a.text_content(): a.get("href") for a in doc.xpath("//td[contains(@class,'footer')]//a")
    }
    assert links["عرض في المتصفح"] == "https://news.example.org/archive/daily/2026-11-28.html"
    assert links["إلغاء الاشتراك"] == "https://news.example.org/unsubscribe/t0k"


def test_latin_digits_when_configured(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, digits="latn")
    rendered = rendered_demo(cfg)
    assert rendered.subject == "أخبار الشام: أهم الأخبار ليوم السبت، 28 تشرين الثاني 2026"
    assert "28 تشرين الثاني 2026، 5:30 ص" in rendered.html
    assert not re.search("[٠-٩]", rendered.html)


def test_subject_from_the_template(cfg: Config) -> None:
    assert rendered_demo(cfg).subject == "أخبار الشام: أهم الأخبار ليوم السبت، ٢٨ تشرين الثاني ٢٠٢٦"
    evening = dataclasses.replace(cfg.digest("daily"), subject="{{ digest_title }}\n({{ count }})")
    planned = plan_edition(FakeStore(articles()), cfg, evening, NOW)
    assert planned is not None
    assert render_edition(planned, cfg).subject == "النشرة اليومية (٥)"


def test_subject_with_an_unknown_variable_names_the_digest(cfg: Config) -> None:
    daily = dataclasses.replace(cfg.digest("daily"), subject="{{ nope }}")
    planned = plan_edition(FakeStore(articles()), cfg, daily, NOW)
    assert planned is not None
    with pytest.raises(ValueError, match=r"digests\.daily\.subject"):
        render_edition(planned, cfg)


# --- the text part -------------------------------------------------------------


def test_text_part_has_every_title_summary_and_link(cfg: Config) -> None:
    rendered = rendered_demo(cfg)
    _, text = personalize(rendered, cfg, to="x@example.com", unsubscribe_token="t0k")
    flat = " ".join(text.replace(RLM, "").split())
    for article in articles():
        assert article.title in flat
        assert " ".join(article.summary.split()) in flat
        assert f"\nhttps://news.example.org{article.url}\n" in text
    assert "\nhttps://news.example.org/archive/daily/2026-11-28.html\n" in text
    assert "\nhttps://news.example.org/unsubscribe/t0k\n" in text
    assert "<" not in text and "&amp;" not in text


def test_text_part_prose_lines_start_with_rlm(cfg: Config) -> None:
    text = rendered_demo(cfg).text
    prose = [
        line
        for line in text.splitlines()
        if any(ch.isalpha() for ch in line) and not line.startswith(("http", UNSUBSCRIBE_URL))
    ]
    assert len(prose) > 20
    assert all(line.startswith(RLM) for line in prose), [p for p in prose if not p.startswith(RLM)]
    # Link lines are left bare so terminals still recognise the URL.
    assert "\nhttps://news.example.org/news/2026/11/1\n" in text
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith("http"))


def test_text_part_is_not_html_escaped(cfg: Config) -> None:
    story = dataclasses.replace(articles()[0], title='شراكة "Apple & Google" <جديدة>')
    text = rendered_demo(cfg, [story]).text
    assert 'شراكة "Apple & Google" <جديدة>' in text


# --- the size guard ------------------------------------------------------------


def test_size_guard_drops_the_last_items_and_says_so(
    cfg: Config, caplog: pytest.LogCaptureFixture
) -> None:
    daily = dataclasses.replace(cfg.digest("daily"), max_items=60)
    planned = plan_edition(FakeStore(big_articles(60)), cfg, daily, NOW)
    assert planned is not None and len(planned.articles) == 60
    with caplog.at_level(logging.WARNING, logger="feedpub.digests"):
        rendered = render_edition(planned, cfg)
    assert rendered.dropped > 0
    kept = len(rendered.articles)
    assert rendered.articles == planned.articles[:kept]  # the last ones go
    # Measured after inlining and after the recipient parts are filled in.
    html, _ = personalize(rendered, cfg, to="A Name <a@example.com>", unsubscribe_token="x" * 64)
    assert len(html.encode()) < cfg.email.max_html_bytes
    assert rendered.html_bytes > rendered.html_bytes_before_inline
    # The largest that fits: one more article would not.
    one_more = dataclasses.replace(planned, articles=planned.articles[: kept + 1])
    assert render_edition(one_more, cfg).dropped == 1
    assert 11 <= rendered.dropped <= 99  # the plural form below ("many")
    notice = f"و {rendered.dropped} خبراً آخر على الموقع".translate(
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    )
    doc = lxml_html.document_fromstring(rendered.html)
    more = doc.xpath("//a[@class='more-link']")
    assert [a.text_content() for a in more] == [notice]
    assert more[0].get("href") == "https://news.example.org"
    assert notice in rendered.text and notice in rendered.archive_html
    assert any("left out the last" in r.getMessage() for r in caplog.records)
    assert digest_mod.edition_record(planned, rendered, NOW).dropped == rendered.dropped


def test_fifteen_heavy_items_fit_without_dropping(cfg: Config) -> None:
    planned = plan_edition(FakeStore(big_articles(15)), cfg, cfg.digest("daily"), NOW)
    assert planned is not None
    rendered = render_edition(planned, cfg)
    assert rendered.dropped == 0 and len(rendered.articles) == 15
    assert "على الموقع" not in rendered.html


def test_small_limit_drops_more(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, max_html_bytes=20_000)
    rendered = rendered_demo(cfg, big_articles(15))
    assert 0 < len(rendered.articles) < 15
    assert rendered.html_bytes + digest_mod.RECIPIENT_RESERVE <= 20_000


def test_limit_below_an_empty_email_is_an_error(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, max_html_bytes=3_000)
    with pytest.raises(ValueError, match="max_html_bytes"):
        rendered_demo(cfg)


# --- the web archive -----------------------------------------------------------


def test_archive_page_is_browser_html(cfg: Config) -> None:
    rendered = rendered_demo(cfg)
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


def test_write_archive_pages_and_index(cfg: Config) -> None:
    store = FakeStore(articles())
    daily = cfg.digest("daily")
    written: list[Path] = []
    for day in range(3):
        now = NOW + timedelta(days=day)
        store.stored.extend(
            dataclasses.replace(a, id=f"d{day}-{a.id}")
            for a in articles(SLOT + timedelta(days=day))
        )
        planned = plan_edition(store, cfg, daily, now)
        assert planned is not None
        rendered = render_edition(planned, cfg)
        store.add_edition(digest_mod.edition_record(planned, rendered, now))
        written = write_archive(store, cfg, daily, rendered)
    folder = cfg.feeds.output / "archive" / "daily"
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


def test_archive_name_has_the_time_when_a_digest_runs_twice_a_day(cfg: Config) -> None:
    evening = cfg.digest("evening")  # "0 7,19 * * *"
    slot = SLOT.replace(hour=19).astimezone(UTC)
    assert digest_mod.archive_path(evening, slot, cfg) == "archive/evening/2026-11-28-1900.html"
    assert digest_mod.archive_path(cfg.digest("daily"), SLOT, cfg) == (
        "archive/daily/2026-11-28.html"
    )


def test_a_run_that_drops_articles_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path, max_html_bytes=20_000)
    store = FakeStore(big_articles(15))
    with caplog.at_level(logging.WARNING):
        outcome = pipeline.make_digest(cfg, cast(SqlStore, store), "daily", NOW)
    assert outcome.edition is not None and outcome.edition.dropped > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "left out the last" in warnings[0], warnings
