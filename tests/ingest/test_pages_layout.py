"""Page layouts nobody listed: learned chrome, the headline, tag blocks,
captions, bylines, relative dates, and ``feedpub ingest --explain``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedpub import ingest
from feedpub.cli import main
from feedpub.ingest import find_page_date
from feedpub.model import Article
from support.ingesting import (
    NOW,
    make_config,
    one_article,
    paragraphs,
    read_path,
    read_sources,
    write,
)

DAMASCUS = ZoneInfo("Asia/Damascus")

# Site name, an unlisted nav/section («تقارير»), a breadcrumb, a caption under
# the title, a byline; none of them is in the built-in chrome list.
SECTION_PAGE = """\
موقع الأنباء
تقارير
منوعات

تقارير

الرئيسية › تقارير

افتتاح جسر جديد فوق نهر العاصي في حماة

الجسر الجديد قبيل الافتتاح

كتب: سامر يوسف
الأحد، 22 نوفمبر 2026 11:30 ص

افتتح محافظ حماة جسراً جديداً فوق نهر العاصي يربط ضفتي المدينة.

وقال المحافظ إن الجسر يخفف الازدحام في وسط المدينة.

اقرأ أيضاً: ترميم النواعير يبدأ الشهر المقبل

ويبلغ طول الجسر 120 متراً.

الوسوم
اقتصاد
رياضة، ثقافة
حماة

سياسة الخصوصية
"""


def test_breadcrumb_and_section_page_gets_its_headline(tmp_path: Path) -> None:
    article = one_article(write(tmp_path / "p.txt", SECTION_PAGE), make_config(tmp_path))
    assert article.title == "افتتاح جسر جديد فوق نهر العاصي في حماة"
    assert article.summary == "افتتح محافظ حماة جسراً جديداً فوق نهر العاصي يربط ضفتي المدينة."
    assert paragraphs(article) == [
        "افتتح محافظ حماة جسراً جديداً فوق نهر العاصي يربط ضفتي المدينة.",
        "وقال المحافظ إن الجسر يخفف الازدحام في وسط المدينة.",
        "ويبلغ طول الجسر 120 متراً.",
    ]
    assert article.published == datetime(2026, 11, 22, 11, 30, tzinfo=DAMASCUS)


def test_tags_equal_to_section_names_are_kept_and_the_footer_is_not_a_tag(
    tmp_path: Path,
) -> None:
    article = one_article(write(tmp_path / "p.txt", SECTION_PAGE), make_config(tmp_path))
    # اقتصاد, رياضة and ثقافة are built-in chrome lines (section names) too.
    assert [t.name for t in article.tags] == ["اقتصاد", "رياضة", "ثقافة", "حماة"]


def test_a_caption_never_becomes_the_summary(tmp_path: Path) -> None:
    page = SECTION_PAGE.replace("تقارير\n\nالرئيسية › تقارير\n\n", "")
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert "الجسر الجديد قبيل الافتتاح" not in article.summary
    assert "الجسر الجديد قبيل الافتتاح" not in article.content
    record = {
        "id": "r1",
        "title": "عنوان",
        "content": "<figure><img src='https://news.example.org/a.jpg'>"
        "<figcaption>صورة الجسر</figcaption></figure><p>المقدمة الحقيقية.</p>",
    }
    path = write(tmp_path / "r.json", json.dumps(record, ensure_ascii=False))
    assert one_article(path, make_config(tmp_path)).summary == "المقدمة الحقيقية."


def _site(tmp_path: Path, count: int) -> list[Article]:
    """``count`` pages of one site that repeats a line no list knows."""
    folder = tmp_path / "site"
    for n in range(count):
        write(
            folder / f"p{n}.txt",
            f"شريط الموقع العجيب\n\nعنوان الخبر رقم {n} في الصفحة\n\nنص الخبر {n}.\n\n"
            "نسعد بتلقي ملاحظاتكم دائماً\n",
        )
    cfg = make_config(tmp_path, sources=[folder])
    return [item for item in read_sources(cfg, NOW) if isinstance(item, Article)]


def test_a_line_repeated_on_a_sources_pages_is_chrome(tmp_path: Path) -> None:
    found = _site(tmp_path, 3)
    assert [a.title for a in found] == [f"عنوان الخبر رقم {n} في الصفحة" for n in range(3)]
    assert all("نسعد" not in a.content for a in found)


def test_a_source_of_two_pages_learns_no_chrome(tmp_path: Path) -> None:
    found = _site(tmp_path, 2)
    assert all("نسعد بتلقي ملاحظاتكم دائماً" in a.content for a in found)


def test_learned_chrome_needs_the_folder(tmp_path: Path) -> None:
    _site(tmp_path, 3)
    # Read on its own, a page has the seed list only.
    [article] = read_path(tmp_path / "site" / "p0.txt", make_config(tmp_path), NOW)
    assert isinstance(article, Article) and "نسعد" in article.content


MTIME = datetime(2026, 11, 28, 14, 20, tzinfo=DAMASCUS)


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("منذ ساعتين", datetime(2026, 11, 28, 12, 20, tzinfo=DAMASCUS)),
        ("منذ ٣ ساعات", datetime(2026, 11, 28, 11, 20, tzinfo=DAMASCUS)),
        ("منذ ساعة", datetime(2026, 11, 28, 13, 20, tzinfo=DAMASCUS)),
        ("منذ 45 دقيقة", datetime(2026, 11, 28, 13, 35, tzinfo=DAMASCUS)),
        ("أمس الساعة 18:40", datetime(2026, 11, 27, 18, 40, tzinfo=DAMASCUS)),
        ("٢٦ تشرين الثاني ٢٠٢٦ | ١٠:٣٠", datetime(2026, 11, 26, 10, 30, tzinfo=DAMASCUS)),
    ],
)
def test_relative_and_arabic_dates(line: str, want: datetime) -> None:
    found = find_page_date(line, DAMASCUS, MTIME)
    assert found is not None and found.value == want


def test_published_is_preferred_over_last_update(tmp_path: Path) -> None:
    page = (
        "عنوان الخبر عن تحديث الموعد\n\nآخر تحديث: 28/11/2026 12:05\n"
        "نُشر في: 28/11/2026 09:40\n\nنص الخبر.\n"
    )
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert article.published == datetime(2026, 11, 28, 9, 40, tzinfo=DAMASCUS)


def test_explain_prints_each_line_with_its_role_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pages"
    write(folder / "p0.txt", SECTION_PAGE)
    for n in (1, 2):  # two more pages of the site: the chrome they share is learned
        other = f"موقع الأنباء\nتقارير\nمنوعات\n\nخبر آخر رقم {n} عن المدينة\n\nنص آخر {n}.\n"
        write(folder / f"p{n}.txt", other + "\nسياسة الخصوصية\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        f'site:\n  title: "x"\n  url: "https://news.example.org"\n'
        f'store:\n  url: "sqlite:///{tmp_path}/db.sqlite"\nsources:\n  - path: {folder}\n'
        "feeds:\n  output: public\ndelivery:\n  outbox: outbox\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "ingest", "--explain", str(folder / "p0.txt")]) == 0
    out = capsys.readouterr().out.splitlines()
    roles = {line[6:18].strip(): line for line in out}
    by_text = {line.split("  [")[0][18:].strip(): line[6:18].strip() for line in out}
    assert by_text["موقع الأنباء"] == "chrome"
    assert "repeats on 3 of 3 pages of this source" in out[0]
    assert by_text["الرئيسية › تقارير"] == "breadcrumb"
    assert by_text["افتتاح جسر جديد فوق نهر العاصي في حماة"] == "title"
    assert by_text["الجسر الجديد قبيل الافتتاح"] == "caption"
    assert by_text["كتب: سامر يوسف"] == "byline"
    assert by_text["الأحد، 22 نوفمبر 2026 11:30 ص"] == "date"
    assert by_text["اقرأ أيضاً: ترميم النواعير يبدأ الشهر المقبل"] == "read-also"
    assert by_text["رياضة، ثقافة"] == "tag"
    assert by_text["ويبلغ طول الجسر 120 متراً."] == "paragraph"
    assert {"chrome", "title", "tag", "blank"} <= set(roles)


def test_explain_of_a_lone_page_uses_the_seed_list_and_agrees_with_ingest(
    tmp_path: Path,
) -> None:
    page = write(tmp_path / "lone" / "p.txt", SECTION_PAGE)
    cfg = make_config(tmp_path)
    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    out = ingest.explain_path(page, run, NOW)
    roles = {line.split("  [")[0][18:].strip(): line[6:18].strip() for line in out}
    assert roles["موقع الأنباء"] == "chrome"  # before the headline
    assert roles["منوعات"] == "chrome"  # the seed list
    assert roles["الرئيسية › تقارير"] == "breadcrumb"
    article = one_article(page, cfg)
    kept = [text for text, role in roles.items() if role in ("paragraph", "joined")]
    assert " ".join(kept) == " ".join(paragraphs(article))


def test_a_short_unpunctuated_line_amid_the_body_is_a_broken_sentence(tmp_path: Path) -> None:
    page = (
        "عنوان الخبر الطويل هنا\n\nالمقدمة كاملة.\n\nوأعرب الوزير عن\n\n"
        "سعادته بالنتائج.\n\nصورة الوزير في المؤتمر\n\nوأضاف أن العمل مستمر.\n"
    )
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert paragraphs(article) == [
        "المقدمة كاملة.",
        "وأعرب الوزير عن سعادته بالنتائج.",
        "وأضاف أن العمل مستمر.",
    ]


@pytest.mark.parametrize("text", ["“المنتخب” في  دمشق…", 'قال: "نعم"', "بُوتـين «أ»"])
def test_layout_compare_key_agrees_with_text_arabic(text: str) -> None:
    from feedpub.ingest.layout import _compare
    from feedpub.text.arabic import compare_key, normalize_arabic

    assert _compare(normalize_arabic(text)) == compare_key(text)


_ODD = [
    " ",
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x85",
    "\u2028",
    "\t",
    "\xa0",
    "\x00",
    "\x01",
]
_ODD += ["\u200f", "\ufeff", "\ufe70", "\u064b", "«", "»", "…", '"', "a", "ب", "أ", ".", "ة"]


@given(st.lists(st.sampled_from(_ODD), max_size=14).map("".join))
@settings(max_examples=1000, deadline=None)
def test_page_texts_is_each_line_stripped_and_collapsed(text: str) -> None:
    from feedpub.ingest.chrome import page_texts
    from feedpub.text.arabic import collapse_ws, strip_xml_illegal

    assert page_texts(text) == [collapse_ws(strip_xml_illegal(line)) for line in text.splitlines()]


@given(st.lists(st.lists(st.sampled_from([c for c in _ODD if c not in "\n\r"]), max_size=8)))
@settings(max_examples=500, deadline=None)
def test_keys_and_compares_are_those_of_each_line(lines: list[list[str]]) -> None:
    from feedpub.ingest.layout import _compare, _keys_and_compares
    from feedpub.text.arabic import collapse_ws, normalize_arabic

    norms = [normalize_arabic(collapse_ws("".join(line))) for line in lines]
    assert _keys_and_compares(norms) == (
        [collapse_ws(n) for n in norms],
        [_compare(n) for n in norms],
    )


@given(st.lists(st.sampled_from([*_ODD, "!", "؟", ":", "۔", ")", "]", "”", "’", "'"]), max_size=8))
@settings(max_examples=500, deadline=None)
def test_ends_sentence_is_its_regex(chars: list[str]) -> None:
    import re

    from feedpub.ingest.layout import ends_sentence

    text = "".join(chars)
    pattern = re.compile("[.!?…؟!:۔][\"'”’»)\\]]*$")
    assert ends_sentence(text) == bool(pattern.search(text.rstrip()))
