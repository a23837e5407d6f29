"""The rendered email: structure, right-to-left markup, the text part, the
recipient slots and the size guard. The renderer is handed a Site, an
EmailConfig and a DigestConfig, nothing else."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from feedpub.digests import (
    RenderedEdition,
    Renderer,
    Site,
    build_message,
    edition_record,
    inline,
    plan_edition,
    render_edition,
)
from feedpub.digests.message import personalize
from feedpub.digests.plan import PlannedEdition
from feedpub.digests.render import RECIPIENT_RESERVE, TITLE_CHARS
from feedpub.model import Article
from feedpub.text.rtl import RLM
from support.digest_fixtures import (
    DAILY,
    DAMASCUS,
    EMAIL,
    NOW,
    FakeStore,
    articles,
    big_articles,
    make_site,
)
from support.digest_render import VALUES, email_doc, rendered_demo


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


# --- the email's HTML ----------------------------------------------------------


def test_lang_and_dir_on_html_and_body(site: Site) -> None:
    doc = email_doc(rendered_demo(site))
    assert doc.get("lang") == "ar" and doc.get("dir") == "rtl"
    body = doc.find("body")
    assert body is not None
    assert body.get("dir") == "rtl" and body.get("align") == "right"
    assert "direction:rtl" in body.get("style", "") and "text-align:right" in body.get("style", "")


# Centred so the 600px column sits in the middle of a wide window; everything
# else is right-aligned.
CENTRED = {"wrapper-cell", "container"}


def test_every_table_and_cell_carries_direction_by_attribute_and_inline_style(
    site: Site,
) -> None:
    doc = email_doc(rendered_demo(site))
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


def test_no_logical_text_align(site: Site) -> None:
    # start/end are not understood by Outlook for Windows, Yahoo and AOL.
    rendered = rendered_demo(site)
    for page in (rendered.html.fill(VALUES), rendered.archive_html):
        flat = page.replace(" ", "")
        assert "text-align:start" not in flat and "text-align:end" not in flat


def test_every_cell_has_its_own_background_for_dark_mode(site: Site) -> None:
    # Dark-mode clients recolour what they must guess at: every cell names its
    # background (inline and as bgcolor), and the email declares itself light.
    doc = email_doc(rendered_demo(site))
    for cell in doc.xpath("//body | //table | //td"):
        where = f"<{cell.tag} class={cell.get('class')}>"
        assert re.search(r"background-color:\s*#[0-9a-f]{3,6}", cell.get("style", "")), where
        assert re.fullmatch(r"#[0-9a-f]{6}", cell.get("bgcolor", "")), where
    schemes = {m.get("name"): m.get("content") for m in doc.xpath("//meta[@name]")}
    assert schemes["color-scheme"] == "light"
    assert schemes["supported-color-schemes"] == "light"


def test_layout_does_not_depend_on_the_style_block(site: Site) -> None:
    # Gmail and others drop <style>: the inline styles alone must carry the
    # width, direction, alignment, fonts and the hidden preheader.
    doc = email_doc(rendered_demo(site))
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
    # Hidden by display, never by low contrast or a tiny font (spam filters
    # score both, and they show wherever display:none is ignored).
    assert "font-size:1px" not in hidden
    colour = re.search(r"(?:^|;)color:(#[0-9a-f]{6})", hidden)
    assert colour is not None and colour.group(1) != "#eef0f3"  # the body's background


def test_media_query_narrows_the_layout_on_phones(site: Site) -> None:
    html = rendered_demo(site).html.fill(VALUES)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    media = style.group(1)[style.group(1).index("@media") :]
    assert "max-width: 620px" in media
    assert re.search(r"\.container\s*\{[^}]*width:\s*100%\s*!important", media)


def test_no_script_and_every_link_absolute(site: Site) -> None:
    doc = email_doc(rendered_demo(site))
    assert not doc.xpath("//script") and "javascript:" not in lxml_html.tostring(doc).decode()
    links = doc.xpath("//@href | //@src")
    assert len(links) > 10
    for link in links:
        assert link.startswith("https://"), link


def test_relative_and_scripted_article_links_are_made_safe(site: Site) -> None:
    story = dataclasses.replace(
        articles()[0], url="javascript:alert(1)", image="//cdn.example.org/a.jpg"
    )
    doc = email_doc(rendered_demo(site, [story]))
    hrefs = doc.xpath("//h2/a/@href")
    assert hrefs == ["https://news.example.org"]
    assert doc.xpath("//img/@src") == ["https://cdn.example.org/a.jpg"]


def test_article_content(site: Site) -> None:
    rendered = rendered_demo(site)
    doc = email_doc(rendered)
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


def test_latin_runs_wrapped_in_ltr_spans(site: Site) -> None:
    doc = email_doc(rendered_demo(site))
    spans = [s.text for s in doc.xpath("//span[@dir='ltr']")]
    assert "COVID-19" in spans and "Vladimir Putin" in spans and "150" in spans
    assert not doc.xpath("//bdi")


def test_preheader_is_the_top_story_lead(site: Site) -> None:
    doc = email_doc(rendered_demo(site))
    preheader = doc.xpath("//div[contains(@class, 'preheader')]")[0]
    assert preheader.text_content().startswith("استقبل الرئيس الروسي Vladimir Putin")
    # It is the first thing in the body, so inbox previews show it.
    assert doc.find("body")[0] is preheader


def test_header_and_footer(site: Site) -> None:
    rendered = rendered_demo(site)
    # One slot each, in place: the greeting cell's content and the footer
    # links' hrefs (unsubscribe, then the preferences page beside it).
    assert rendered.html.slots == ("greeting", "unsubscribe_url", "preferences_url")
    assert re.search(r'<td class="greeting"[^>]*>$', rendered.html.chunks[0])
    assert rendered.html.chunks[1].endswith('href="')
    assert rendered.html.chunks[2].endswith('href="')
    assert rendered.text.slots == ("greeting", "unsubscribe_url", "preferences_url")
    doc = email_doc(rendered)
    page = doc.text_content()
    assert "أخبار الشام" in page and "النشرة اليومية" in page
    assert "السبت، ٢٨ تشرين الثاني ٢٠٢٦" in page
    assert "مرحباً Sami،" in page
    assert "أخبار الشام، شارع بغداد 12، دمشق، سورية" in page
    links = {
        a.text_content(): a.get("href") for a in doc.xpath("//td[contains(@class,'footer')]//a")
    }
    assert links["عرض في المتصفح"] == "https://news.example.org/archive/daily/2026-11-28.html"
    assert links["إلغاء الاشتراك"] == "https://news.example.org/unsubscribe/daily/t0k"
    # The editors' copy (no token): the page that asks for an address.
    assert links["تفضيلات الاشتراك"] == "https://news.example.org/preferences/"


def test_no_preferences_link_without_a_preferences_page(site: Site) -> None:
    rendered = rendered_demo(site, email=dataclasses.replace(EMAIL, preferences_url=""))
    assert "preferences_url" not in rendered.html.slots + rendered.text.slots
    assert "تفضيلات الاشتراك" not in rendered.html.fill(VALUES)


def test_latin_digits_when_configured(tmp_path: Path) -> None:
    rendered = rendered_demo(make_site(tmp_path), email=dataclasses.replace(EMAIL, digits="latn"))
    assert rendered.subject == "أخبار الشام: أهم الأخبار ليوم السبت، 28 تشرين الثاني 2026"
    html = rendered.html.fill(VALUES)
    assert "28 تشرين الثاني 2026، 5:30 ص" in html
    assert not re.search("[٠-٩]", html)


def test_subject_from_the_template(site: Site) -> None:
    assert (
        rendered_demo(site).subject == "أخبار الشام: أهم الأخبار ليوم السبت، ٢٨ تشرين الثاني ٢٠٢٦"
    )
    evening = dataclasses.replace(DAILY, subject="{{ digest_title }}\n({{ count }})")
    planned = plan_edition(FakeStore(articles()), evening, NOW, tz=DAMASCUS)
    assert planned is not None
    assert render_edition(planned, site, EMAIL).subject == "النشرة اليومية (٥)"


def test_subject_with_an_unknown_variable_names_the_digest(site: Site) -> None:
    daily = dataclasses.replace(DAILY, subject="{{ nope }}")
    planned = plan_edition(FakeStore(articles()), daily, NOW, tz=DAMASCUS)
    assert planned is not None
    with pytest.raises(ValueError, match=r"digests\.daily\.subject"):
        render_edition(planned, site, EMAIL)


# --- recipient slots -----------------------------------------------------------

OLD_MARKERS = "%%UNSUBSCRIBE_URL%% %%GREETING%%"


def test_article_text_that_looks_like_a_slot_stays_literal(site: Site) -> None:
    # Slots are filled by position: text that looks like a marker (the old
    # %%...%% ones, or this module's own with a guessed nonce) is only text.
    forged = "feedpub-slot-" + "0" * 32 + "-greeting"
    story = dataclasses.replace(articles()[0], title=OLD_MARKERS, summary=f"{OLD_MARKERS} {forged}")
    rendered = rendered_demo(site, [story])
    html, text = personalize(
        rendered, EMAIL, to="Sami <sami@example.com>", unsubscribe_token="t0k", list_name="daily"
    )
    doc = lxml_html.document_fromstring(html)
    assert [h.text_content().strip() for h in doc.xpath("//h2")] == [OLD_MARKERS]
    assert doc.xpath("//img/@alt") == [OLD_MARKERS]
    assert f"{OLD_MARKERS} {forged}" in doc.xpath("//p[@class='summary']")[0].text_content()
    assert f"\n{RLM}{OLD_MARKERS}\n" in text
    assert forged in re.sub(r"[\s\u200f]", "", text)  # the text part wraps it
    # The real slots still got the recipient's values, once each.
    assert html.count("https://news.example.org/unsubscribe/daily/t0k") == 1
    assert text.count("https://news.example.org/unsubscribe/daily/t0k") == 1
    assert "مرحباً Sami،" in doc.text_content() and "مرحباً Sami،" in text


def test_inlining_runs_once_per_variant_not_per_recipient(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = inline.inline_css

    def counted(html: str) -> str:
        calls.append(1)
        return real(html)

    monkeypatch.setattr(inline, "inline_css", counted)
    renderer = Renderer(site, EMAIL)
    full = plan_edition(FakeStore(articles()), DAILY, NOW, tz=DAMASCUS)
    assert full is not None
    bodies = set()
    for name in ("سامي", "Lina", "رنا"):
        rendered = renderer.render(full)
        message = build_message(
            rendered,
            DAILY,
            site,
            EMAIL,
            to=f"{name} <x@example.com>",
            unsubscribe_token=name,
            now=NOW,
        )
        html = message.get_body(("html",))
        assert html is not None
        bodies.add(html.get_content())
    assert len(calls) == 1
    assert len(bodies) == 3  # each recipient's own greeting and link
    # Another selection of articles is another variant: inlined once more.
    fewer = dataclasses.replace(full, articles=full.articles[:2])
    renderer.render(fewer)
    renderer.render(fewer)
    assert len(calls) == 2


# --- the text part -------------------------------------------------------------


def test_text_part_has_every_title_summary_and_link(site: Site) -> None:
    rendered = rendered_demo(site)
    _, text = personalize(
        rendered, EMAIL, to="x@example.com", unsubscribe_token="t0k", list_name="daily"
    )
    flat = " ".join(text.replace(RLM, "").split())
    for article in articles():
        assert article.title in flat
        assert " ".join(article.summary.split()) in flat
        assert f"\nhttps://news.example.org{article.url}\n" in text
    assert "\nhttps://news.example.org/archive/daily/2026-11-28.html\n" in text
    assert "\nhttps://news.example.org/unsubscribe/daily/t0k\n" in text
    assert "<" not in text and "&amp;" not in text


def test_text_part_prose_lines_start_with_rlm(site: Site) -> None:
    text = rendered_demo(site).text.fill(VALUES)
    prose = [
        line
        for line in text.splitlines()
        if any(ch.isalpha() for ch in line) and not line.startswith("http")
    ]
    assert len(prose) > 20
    assert all(line.startswith(RLM) for line in prose), [p for p in prose if not p.startswith(RLM)]
    # Link lines are left bare so terminals still recognise the URL.
    assert "\nhttps://news.example.org/news/2026/11/1\n" in text
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith("http"))


def test_text_part_is_not_html_escaped(site: Site) -> None:
    story = dataclasses.replace(articles()[0], title='شراكة "Apple & Google" <جديدة>')
    text = rendered_demo(site, [story]).text.fill(VALUES)
    assert 'شراكة "Apple & Google" <جديدة>' in text


# --- the size guard ------------------------------------------------------------


def test_size_guard_drops_items_and_says_so(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    daily = dataclasses.replace(DAILY, max_items=60)
    planned = plan_edition(FakeStore(big_articles(60)), daily, NOW, tz=DAMASCUS)
    assert planned is not None and len(planned.articles) == 60
    with caplog.at_level(logging.WARNING, logger="feedpub.digests"):
        rendered = render_edition(planned, site, EMAIL)
    assert rendered.dropped > 0
    kept = len(rendered.articles)
    assert kept + rendered.dropped == 60
    held = set(rendered.articles)
    assert rendered.articles == tuple(a for a in planned.articles if a in held)  # order kept
    # Measured after inlining and after the recipient parts are filled in.
    html, _ = personalize(
        rendered, EMAIL, to="A Name <a@example.com>", unsubscribe_token="x" * 64, list_name="daily"
    )
    assert len(html.encode()) < EMAIL.max_html_bytes
    assert rendered.html_bytes > rendered.html_bytes_before_inline
    # As few left out as will do: with one of them back, one must go again.
    back = [a for a in planned.articles if a in held or a == left_out(planned, rendered)[-1]]
    one_more = dataclasses.replace(planned, articles=tuple(back))
    assert render_edition(one_more, site, EMAIL).dropped == 1
    assert 11 <= rendered.dropped <= 99  # the plural form below ("many")
    notice = f"و {rendered.dropped} خبراً آخر على الموقع".translate(
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    )
    doc = lxml_html.document_fromstring(rendered.html.fill(VALUES))
    more = doc.xpath("//a[@class='more-link']")
    assert [a.text_content() for a in more] == [notice]
    assert more[0].get("href") == "https://news.example.org"
    assert notice in rendered.text.fill(VALUES) and notice in rendered.archive_html
    said = f"left out the {rendered.dropped} largest of 60"
    assert any(said in r.getMessage() for r in caplog.records)
    assert edition_record(planned, rendered, NOW).dropped == rendered.dropped


def left_out(planned: PlannedEdition, rendered: RenderedEdition) -> list[Article]:
    return [a for a in planned.articles if a not in rendered.articles]


def sized(index: int, title_chars: int, summary_chars: int) -> Article:
    """Demo story ``index`` (newest first) with a title and summary of the
    given lengths, padded with Arabic words."""
    story = articles()[index]
    words = " ".join(["تطورات"] * 20_000)
    return dataclasses.replace(
        story, title=words[:title_chars], summary=words[:summary_chars], image=None
    )


def test_size_guard_leaves_out_the_largest_and_keeps_the_order(site: Site) -> None:
    # Heavy stories at the top, in the middle and at the end; the light ones
    # all fit. Leaving out "the last" would lose light ones and keep heavy.
    heavy = {0, 2, 4}
    stored = [sized(i, 290, 320) if i in heavy else sized(i, 40, 60) for i in range(5)]
    planned = plan_edition(FakeStore(stored), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    light = [a for i, a in enumerate(stored) if i not in heavy]
    only_light = render_edition(dataclasses.replace(planned, articles=tuple(light)), site, EMAIL)
    # Room for the light ones and the «more on the site» line, not for one heavy story.
    limit = only_light.html_bytes + RECIPIENT_RESERVE + 600
    rendered = render_edition(planned, site, dataclasses.replace(EMAIL, max_html_bytes=limit))
    assert [a.id for a in rendered.articles] == [a.id for a in light]  # newest first still
    assert rendered.dropped == 3
    edition = edition_record(planned, rendered, NOW)
    assert edition.article_ids == tuple(a.id for a in light) and edition.dropped == 3
    # The preheader is the lead of the top story the email holds.
    doc = email_doc(rendered)
    preheader = doc.xpath("//div[contains(@class, 'preheader')]")[0]
    assert preheader.text_content() == light[0].summary


def test_huge_stored_titles_do_not_empty_the_edition(site: Site) -> None:
    # Issue 12 item 7: three stored articles with 120 KB titles (from before
    # ingest shortened titles) and one small one made an edition of nothing.
    stored = [sized(i, 120_000, 60) for i in range(3)] + [sized(3, 40, 60)]
    planned = plan_edition(FakeStore(stored), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    rendered = render_edition(planned, site, EMAIL)
    assert rendered.dropped == 0 and rendered.articles == planned.articles
    doc = email_doc(rendered)
    titles = [h2.text_content() for h2 in doc.xpath("//h2")]
    assert len(titles) == 4 and all(len(t) <= TITLE_CHARS + 1 for t in titles)
    assert titles[0].endswith("…")
    # Even a tight limit keeps what fits rather than nothing.
    tight = dataclasses.replace(EMAIL, max_html_bytes=rendered.html_bytes + RECIPIENT_RESERVE - 1)
    smaller = render_edition(planned, site, tight)
    assert smaller.dropped == 1 and len(smaller.articles) == 3
    assert stored[3] in smaller.articles


def test_fifteen_heavy_items_fit_without_dropping(site: Site) -> None:
    planned = plan_edition(FakeStore(big_articles(15)), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    rendered = render_edition(planned, site, EMAIL)
    assert rendered.dropped == 0 and len(rendered.articles) == 15
    assert "على الموقع" not in rendered.html.fill(VALUES)


def test_small_limit_drops_more(tmp_path: Path) -> None:
    small = dataclasses.replace(EMAIL, max_html_bytes=20_000)
    rendered = rendered_demo(make_site(tmp_path), big_articles(15), small)
    assert 0 < len(rendered.articles) < 15
    assert rendered.html_bytes + RECIPIENT_RESERVE <= 20_000


def test_limit_below_an_empty_email_is_an_error(tmp_path: Path) -> None:
    tiny = dataclasses.replace(EMAIL, max_html_bytes=3_000)
    with pytest.raises(ValueError, match="max_html_bytes"):
        rendered_demo(make_site(tmp_path), email=tiny)
