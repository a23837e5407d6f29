from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedpub import app as pipeline
from feedpub.config import load_config
from feedpub.ingest import discover
from feedpub.ingest.pages import DEFAULT_CHROME_LINES
from feedpub.model import Reject
from feedpub.store import SqlStore
from support.ingesting import (
    DAMASCUS,
    GOOD,
    MTIME,
    NOW,
    REPO,
    SAMPLES,
    SEED,
    VOCABULARY,
    articles,
    jsonl,
    make_config,
    one_article,
    paragraphs,
    read_path,
    read_sources,
    rejects,
    write,
)

PAGE = """\
الرئيسية
أخبار
رياضة

عنوان الخبر عن "المنتخب" في دمشق

نشر في: الأحد 22 تشرين الثاني 2026 - 09:30

الفقرة الأولى عن "المنتخب" وهي المقدمة.

عنوان الخبر عن “المنتخب” في دمشق

الفقرة الأولى عن “المنتخب” وهي المقدمة.

فقرة ثانية تنقطع في منتصف

الجملة ثم تكمل هنا.

فقرة ثالثة.

شارك
فيسبوك
تويتر
واتساب

الوسوم
كرة القدم
  بُوتـين
المحليات، الملاعب
اظهر المزيد

مقالات ذات صلة
خبر آخر لا علاقة له
زر الذهاب إلى الأعلى
أصابات
رسالة
إغلاق
"""


# --- the seed page -------------------------------------------------------------------


@pytest.mark.skipif(not SEED.exists(), reason=f"seed page {SEED} not present")
def test_seed_page_ingests_clean(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path, vocabulary={"الأسد": (), "بوتين": (), "روسيا": ("موسكو",), "كورونا": ()}
    )
    article = one_article(SEED, cfg)

    assert article.id == "000_a9baae875889dc1c"
    assert article.title == (
        "قمة الأسد – بوتين .. تأكيد على المواجهة المشتركة للإرهاب ومواصلة العملية السياسية"
    )
    assert article.summary.startswith("اجتمع الرئيس السوري بشار الأسد")
    body = paragraphs(article)
    for broken in (
        "بلقاء الرئيس الروسي بعد مضي /6/ سنوات",
        "المساعدات الإنسانية المقدّمة للشعب السوري",
    ):
        assert sum(broken in p for p in body) == 1, broken
    # The content holds the lead once (as its first paragraph), the title never.
    assert body[0] == article.summary
    assert article.content.count("اجتمع الرئيس السوري بشار الأسد") == 1
    assert article.title not in article.content
    chrome = {*DEFAULT_CHROME_LINES, *cfg.ingest.chrome_lines}
    for text in (article.title, article.summary, *body):
        assert text not in chrome
    for line in ("أخر الأخبار", "اظهر المزيد", "مقالات ذات صلة", "زر الذهاب", "أصابات", "إغلاق"):
        assert line not in article.content
    assert {t.name for t in article.tags} == {"الأسد", "بوتين", "روسيا", "كورونا"}
    # No date in the page: published is the file's mtime.
    mtime = datetime.fromtimestamp(int(SEED.stat().st_mtime), tz=UTC)
    assert article.published == mtime
    assert read_path(SEED, cfg, NOW) == read_path(SEED, cfg, NOW + timedelta(days=1))


# --- scraped pages ----------------------------------------------------------------------


def test_page_drops_chrome_teaser_and_footer(tmp_path: Path) -> None:
    article = one_article(write(tmp_path / "p1.txt", PAGE), make_config(tmp_path))
    assert article.id == "p1"
    assert article.title == 'عنوان الخبر عن "المنتخب" في دمشق'
    assert article.summary == "الفقرة الأولى عن “المنتخب” وهي المقدمة."
    assert paragraphs(article) == [
        "الفقرة الأولى عن “المنتخب” وهي المقدمة.",
        "فقرة ثانية تنقطع في منتصف الجملة ثم تكمل هنا.",
        "فقرة ثالثة.",
    ]
    for junk in ("شارك", "فيسبوك", "الوسوم", "خبر آخر", "إغلاق", "نشر في"):
        assert junk not in article.content


def test_page_tag_block_gives_tags_then_vocabulary_tags(tmp_path: Path) -> None:
    article = one_article(write(tmp_path / "p.txt", PAGE), make_config(tmp_path))
    names = [t.name for t in article.tags]
    # "كرة القدم" is an alias of رياضة and بُوتـين has the key of بوتين, so both
    # take the vocabulary's name; a comma-separated line gives two tags;
    # سوريا comes from دمشق in the title.
    assert names == ["رياضة", "بوتين", "المحليات", "الملاعب", "سوريا"]
    assert len({t.key for t in article.tags}) == len(article.tags)


def test_page_date_line_sets_published_in_site_timezone(tmp_path: Path) -> None:
    article = one_article(write(tmp_path / "p.txt", PAGE), make_config(tmp_path))
    assert article.published == datetime(2026, 11, 22, 9, 30, tzinfo=DAMASCUS)
    # a dated page is not "updated" by its mtime (a checkout resets mtimes)
    assert article.updated == article.published


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2026-11-21", datetime(2026, 11, 21, tzinfo=DAMASCUS)),
        ("2026-11-21 14:05", datetime(2026, 11, 21, 14, 5, tzinfo=DAMASCUS)),
        ("2026-11-21T14:05:00+02:00", datetime(2026, 11, 21, 12, 5, tzinfo=UTC)),
        ("21/11/2026", datetime(2026, 11, 21, tzinfo=DAMASCUS)),
        ("21/11/2026 - 08:15", datetime(2026, 11, 21, 8, 15, tzinfo=DAMASCUS)),
        ("تاريخ النشر: 21.11.2026", datetime(2026, 11, 21, tzinfo=DAMASCUS)),
        ("2026/11/21", datetime(2026, 11, 21, tzinfo=DAMASCUS)),
        ("١٤ أيلول ٢٠٢١", datetime(2021, 9, 14, tzinfo=DAMASCUS)),
        ("14 ايلول 2021", datetime(2021, 9, 14, tzinfo=DAMASCUS)),
        ("14 سبتمبر 2021", datetime(2021, 9, 14, tzinfo=DAMASCUS)),
        ("السبت 21 تشرين الثاني 2026", datetime(2026, 11, 21, tzinfo=DAMASCUS)),
        ("3 كانون الأول، 2026", datetime(2026, 12, 3, tzinfo=DAMASCUS)),
        ("5 آذار 2026", datetime(2026, 3, 5, tzinfo=DAMASCUS)),
        ("9 آب 2026", datetime(2026, 8, 9, tzinfo=DAMASCUS)),
        ("21 تشرين الثاني/نوفمبر 2026", datetime(2026, 11, 21, tzinfo=DAMASCUS)),
        ("الأربعاء 25 نوفمبر 2026", datetime(2026, 11, 25, tzinfo=DAMASCUS)),
        ("1 يونيه 2026", datetime(2026, 6, 1, tzinfo=DAMASCUS)),
        ("٢٦/١١/٢٠٢٦", datetime(2026, 11, 26, tzinfo=DAMASCUS)),
        ("28 تشرين الثاني 2026 - 04:30 م", datetime(2026, 11, 28, 16, 30, tzinfo=DAMASCUS)),
        ("دمشق - 20 تشرين الثاني 2026", datetime(2026, 11, 20, tzinfo=DAMASCUS)),
    ],
)
def test_page_date_forms(tmp_path: Path, line: str, expected: datetime) -> None:
    page = f"الرئيسية\n\nعنوان\n\n{line}\n\nنص الخبر.\n"
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert article.published == expected
    assert line not in article.content


def test_dates_inside_sentences_are_not_publication_dates(tmp_path: Path) -> None:
    page = "عنوان\n\nوقع الاتفاق في 14 أيلول 2021 بحضور وفود من عدة دول عربية وأجنبية.\n"
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert article.published == MTIME
    assert "14 أيلول 2021" in article.content


def test_page_without_date_uses_mtime_and_updated_is_mtime(tmp_path: Path) -> None:
    article = one_article(write(tmp_path / "p.txt", "عنوان\n\nنص.\n"), make_config(tmp_path))
    assert article.published == article.updated == MTIME


def test_page_dated_after_its_mtime_is_updated_at_published(tmp_path: Path) -> None:
    page = "عنوان\n\n2026-11-28 10:00\n\nنص.\n"
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert article.updated == article.published == datetime(2026, 11, 28, 10, tzinfo=DAMASCUS)


def test_paragraph_ending_in_closing_quote_after_stop_is_not_joined(tmp_path: Path) -> None:
    page = 'عنوان\n\nقال: "انتهى."\n\nفقرة أخرى؟\n\nثالثة!\n\nرابعة…\n\nخامسة\n'
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert paragraphs(article) == ['قال: "انتهى."', "فقرة أخرى؟", "ثالثة!", "رابعة…", "خامسة"]


def test_page_text_is_escaped_in_content(tmp_path: Path) -> None:
    page = "عنوان\n\nنص فيه <script>alert(1)</script> و 5 < 6 & 7.\n"
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert "<script>" not in article.content
    assert "&lt;script&gt;" in article.content


def test_page_crlf_bom_and_rlm_lines(tmp_path: Path) -> None:
    page = "\ufeffالرئيسية\r\n\u200f\r\nعنوان\r\n\r\nنص.\r\n"
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert (article.title, article.summary) == ("عنوان", "نص.")


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("عنوان\n\nنص.\n".encode("cp1256"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL"),
        ("عنوان\n\nنص.\n".encode("utf-16"), "NUL"),
        (b"", "empty"),
        (b" \n\n\t\n", "empty"),
        ("الرئيسية\nأخبار\n\nشارك\nإغلاق\n".encode(), "no title"),
        ("عنوان فقط\n\nالوسوم\nاظهر المزيد\n".encode(), "no article text"),
        ("عنوان\n\n31/02/2026\n\nنص.\n".encode(), "does not parse"),
        ("عنوان\n\n2026-13-01\n\nنص.\n".encode(), "does not parse"),
        ("عنوان\n\n30 شباط 2026\n\nنص.\n".encode(), "does not parse"),
    ],
)
def test_unusable_page_is_rejected_and_others_still_ingest(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    bad = write(tmp_path / "src" / "a-bad.txt", content)
    write(tmp_path / "src" / "b-good.txt", "عنوان\n\nنص.\n")
    cfg = make_config(tmp_path, sources=[tmp_path / "src"])
    items = list(read_sources(cfg, NOW))
    [problem] = rejects(items)
    assert problem.source == str(bad)
    assert reason in problem.reason
    assert problem.seen == NOW
    assert [a.id for a in articles(items)] == ["b-good"]


def test_bad_page_date_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "الرئيسية\n\nعنوان\n\n31/02/2026\n\nنص.\n")
    [problem] = read_path(path, make_config(tmp_path), NOW)
    assert isinstance(problem, Reject)
    assert problem.location == "line 5"


def test_page_larger_than_limit_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "عنوان\n\n" + "نص طويل. " * 200)
    [problem] = read_path(path, make_config(tmp_path, max_article_bytes=1000), NOW)
    assert isinstance(problem, Reject)
    assert "larger than ingest.max_article_bytes (1000)" in problem.reason


# --- records ----------------------------------------------------------------------------


def test_jsonl_bad_lines_are_rejected_with_line_numbers_and_the_rest_ingests(
    tmp_path: Path,
) -> None:
    big = {"id": "big", "title": "كبير", "text": "س" * 3000}
    lines = [
        GOOD,  # 1
        "{not json",  # 2
        "[1, 2]",  # 3
        "",  # 4: blank lines are skipped
        {"title": "بلا معرف"},  # 5
        {"id": "d", "title": "تاريخ", "published": "21/11/2026"},  # 6
        {"id": "t", "text": "بلا عنوان"},  # 7
        big,  # 8
        {"id": "   ", "title": "معرف فارغ"},  # 9
        {"id": "u", "title": "رابط", "url": "javascript:alert(1)"},  # 10
        {"id": "tg", "title": "وسوم", "tags": "سوريا, [1]"},  # 11: one string is one tag
        {"id": "tb", "title": "وسوم", "tags": [1, 2]},  # 12
        {"id": "g2", "title": "عنوان ٢", "summary": "ملخص"},  # 13
    ]
    data = jsonl(*lines).encode() + b'{"id": "x", "title": "\xff"}\n'  # 14: not UTF-8
    path = write(tmp_path / "a.jsonl", data)
    items = read_path(path, make_config(tmp_path, max_article_bytes=2000), NOW)

    assert [a.id for a in articles(items)] == ["g1", "tg", "g2"]
    # A record with an id is named by its line and its id.
    located = {r.location: r.reason for r in rejects(items)}
    assert {"line 6, id d", "line 7, id t", "line 10, id u", "line 12, id tb"} <= set(located)
    found = {(loc or "").split(",")[0]: reason for loc, reason in located.items()}
    assert set(found) == {f"line {n}" for n in (2, 3, 5, 6, 7, 8, 9, 10, 12, 14)}
    assert "invalid JSON" in found["line 2"]
    assert "not an object" in found["line 3"]
    assert "no id" in found["line 5"]
    assert "published" in found["line 6"] and "ISO 8601" in found["line 6"]
    assert "no title" in found["line 7"]
    assert "larger than ingest.max_article_bytes" in found["line 8"]
    assert "no id" in found["line 9"]
    assert "url must be an http(s) URL" in found["line 10"]
    assert "tags must be a list of strings" in found["line 12"]
    assert "not UTF-8" in found["line 14"]
    assert all(r.source == str(path) and r.seen == NOW for r in rejects(items))


def test_json_file_holds_an_object_or_a_list(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    single = write(tmp_path / "one.json", json.dumps(GOOD))
    assert [a.id for a in articles(read_path(single, cfg, NOW))] == ["g1"]

    listed = write(
        tmp_path / "many.json",
        json.dumps([GOOD, "نص", {"id": 7, "title": "رقم"}, {"id": "nt"}, {"title": "x"}]),
    )
    items = read_path(listed, cfg, NOW)
    assert [a.id for a in articles(items)] == ["g1", "7"]
    assert [(r.location, r.reason) for r in rejects(items)] == [
        ("record 2", "record is not an object (got str)"),
        ("id nt", "no title"),
        ("record 5", "record has no id"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "location", "reason"),
    [
        ("bad.json", '[{"id": "a",\n "title": }]', "line 2", "invalid JSON"),
        ("scalar.json", "42", None, "must be an object or a list"),
        ("bad.yaml", "- id: a\n  title: [unclosed\n", "line 3", "invalid YAML"),
        ("scalar.yml", "just text\n", None, "must be an object or a list"),
    ],
)
def test_invalid_structured_file_is_one_reject(
    tmp_path: Path, name: str, content: str, location: str | None, reason: str
) -> None:
    [problem] = read_path(write(tmp_path / name, content), make_config(tmp_path), NOW)
    assert isinstance(problem, Reject)
    assert problem.location == location
    assert reason in problem.reason


def test_yaml_records_with_native_dates(tmp_path: Path) -> None:
    content = """\
- id: y1
  title: خبر من يامل
  text: |
    فقرة أولى
    تكمل هنا.

    فقرة ثانية.
  published: 2026-11-24
  updated: 2026-11-24T18:00:00+03:00
- id: y2
  title: ثان
  published: 2026-11-24 10:00:00
"""
    items = read_path(write(tmp_path / "r.yaml", content), make_config(tmp_path), NOW)
    first, second = articles(items)
    assert first.published == datetime(2026, 11, 24, tzinfo=DAMASCUS)
    assert first.updated == datetime(2026, 11, 24, 15, tzinfo=UTC)
    assert first.content == "<p>فقرة أولى تكمل هنا.</p><p>فقرة ثانية.</p>"
    assert first.summary == "فقرة أولى تكمل هنا."
    assert second.published == datetime(2026, 11, 24, 10, tzinfo=DAMASCUS)
    one = write(tmp_path / "one.yml", "id: y3\ntitle: واحد\n")
    assert [a.id for a in articles(read_path(one, make_config(tmp_path), NOW))] == ["y3"]


def test_record_fields_are_cleaned(tmp_path: Path) -> None:
    record = {
        "id": " r\x001 ",
        "title": "<b>عاجل:</b> خبر\x0b عن   بوتين",
        "summary": "<p>ملخص <i>مهم</i> &amp; قصير</p>",
        "content": (
            '<p onclick="x()">نص\x01 <a href="https://e.example/a" target="_blank">رابط</a></p>'
            '<script>alert(1)</script><iframe src="https://evil.example"></iframe>'
            '<a href="javascript:alert(1)">خبيث</a><p>\ufffeفقرة</p>'
        ),
        "author": "<span>سامر\x1f</span>",
        "tags": ["  سوريا\x00 ", "", "   ", "سورية"],
        "url": "https://news.example.org/a\x02",
        "image": "/media/x.jpg",
        "published": "2026-11-21T10:00:00",
    }
    article = one_article(write(tmp_path / "r.jsonl", jsonl(record)), make_config(tmp_path))
    assert article.id == "r1"
    assert article.title == "عاجل: خبر عن بوتين"
    assert article.summary == "ملخص مهم & قصير"
    assert article.content == (
        '<p>نص <a href="https://e.example/a">رابط</a></p><a>خبيث</a><p>فقرة</p>'
    )
    assert article.author == "سامر"
    assert article.url == "https://news.example.org/a"
    assert article.image == "https://news.example.org/media/x.jpg"
    # سورية is an alias of سوريا: one tag, under the vocabulary's name.
    assert [t.name for t in article.tags] == ["سوريا", "بوتين"]
    assert article.published == datetime(2026, 11, 21, 10, tzinfo=DAMASCUS)
    assert article.updated == article.published
    for text in (article.id, article.title, article.summary, article.content, article.author):
        assert not any(ord(ch) < 0x20 and ch not in "\t\n\r" for ch in text or "")


def test_record_summary_defaults_to_first_paragraph_of_html(tmp_path: Path) -> None:
    record = {
        "id": "h",
        "title": "ع",
        "content": (
            "<figure><img src='https://x.example/i.jpg'></figure>"
            "<p>أول <b>فقرة</b>.</p><p>ثانية.</p>"
        ),
    }
    article = one_article(write(tmp_path / "r.json", json.dumps(record)), make_config(tmp_path))
    assert article.summary == "أول فقرة."


def test_record_without_published_uses_updated_then_mtime(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.jsonl",
        jsonl(
            {"id": "a", "title": "أ", "updated": "2026-11-22T08:00:00Z"},
            {"id": "b", "title": "ب"},
            {"id": "c", "title": "ج", "published": "2026-11-23T08:00:00Z", "updated": "2026-11-01"},
        ),
    )
    a, b, c = articles(read_path(path, make_config(tmp_path), NOW))
    assert a.published == a.updated == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert b.published == b.updated == MTIME
    assert c.updated == c.published  # an updated before published is raised to it


# --- stability ---------------------------------------------------------------------------


def test_rereading_unchanged_files_gives_identical_articles(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    page = write(tmp_path / "p.txt", PAGE)
    records = write(tmp_path / "r.jsonl", (SAMPLES / "records" / "articles.jsonl").read_text())
    for path in (page, records):
        first = read_path(path, cfg, NOW)
        again = read_path(path, cfg, NOW + timedelta(hours=5))
        assert first == again
        assert all(a.content_hash for a in articles(first))


def test_changed_page_gets_a_different_hash(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    path = write(tmp_path / "p.txt", PAGE)
    before = one_article(path, cfg)
    write(path, PAGE.replace("فقرة ثالثة.", "فقرة ثالثة معدلة."))
    assert one_article(path, cfg).content_hash != before.content_hash


def test_changed_record_gets_a_different_hash(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    path = write(tmp_path / "r.jsonl", jsonl(GOOD))
    before = one_article(path, cfg)
    write(path, jsonl({**GOOD, "tags": ["جديد"]}))
    assert one_article(path, cfg).content_hash != before.content_hash


def test_touching_a_page_does_not_change_its_hash(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    path = write(tmp_path / "p.txt", "عنوان\n\nنص.\n")
    before = one_article(path, cfg)
    write(path, "عنوان\n\nنص.\n", mtime=MTIME + timedelta(days=2))
    after = one_article(path, cfg)
    assert after.updated == before.updated + timedelta(days=2)
    assert after.content_hash == before.content_hash


def test_vocabulary_change_changes_tags_and_hash(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "عنوان\n\nزيارة إلى موسكو.\n")
    with_vocab = one_article(path, make_config(tmp_path))
    without = one_article(path, make_config(tmp_path, vocabulary={}))
    assert [t.name for t in with_vocab.tags] == ["روسيا"]
    assert without.tags == ()
    assert with_vocab.content_hash != without.content_hash


# --- discovery ------------------------------------------------------------------------------


def test_discover_lists_supported_files_sorted_and_reports_missing_sources(
    tmp_path: Path,
) -> None:
    root = tmp_path / "src"
    for name in ("b.txt", "a.jsonl", "sub/c.yaml", "sub/d.yml", "e.json", "f.md", ".hidden.txt"):
        write(root / name, "x")
    write(root / ".git" / "g.txt", "x")
    single = write(tmp_path / "single.txt", "x")
    missing = tmp_path / "nope"
    paths, problems = discover([root, missing, single, root], NOW)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "src/a.jsonl",
        "src/b.txt",
        "src/e.json",
        "src/sub/c.yaml",
        "src/sub/d.yml",
        "single.txt",
    ]
    [problem] = problems
    assert (problem.source, problem.reason, problem.seen) == (
        str(missing),
        "source path does not exist",
        NOW,
    )


# --- samples ------------------------------------------------------------------------------


def test_samples_all_ingest_without_rejects(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, sources=[SAMPLES / "pages", SAMPLES / "records"])
    items = list(read_sources(cfg, NOW))
    assert rejects(items) == []
    found = articles(items)
    pages = [a for a in found if a.source.endswith(".txt")]
    records = [a for a in found if a.source.endswith(".jsonl")]
    assert len(pages) >= 12 and len(records) >= 12
    assert len({a.id for a in found}) == len(found)
    for article in found:
        assert article.published.year == 2026 and article.published.month == 11, article.id
        assert article.title and article.summary and article.content.startswith("<")
    for name in VOCABULARY:
        tagged = [a.id for a in found if name in {t.name for t in a.tags}]
        assert tagged, f"no sample article is tagged {name}"
    chrome = {*DEFAULT_CHROME_LINES, *cfg.ingest.chrome_lines}
    for article in pages:
        assert article.title not in chrome
        assert not chrome & set(paragraphs(article))
        assert article.content.count(article.summary) == 1


def test_repo_config_ingests_the_samples(tmp_path: Path) -> None:
    config_file = REPO / "config.yaml"
    if not config_file.exists():
        pytest.skip("config.yaml not in the repo yet")
    cfg = load_config(config_file)
    cfg = replace(cfg, sources=tuple(s for s in cfg.sources if s.path.exists()))
    items = list(read_sources(cfg, NOW))
    assert rejects(items) == []
    assert len(articles(items)) >= 24


# --- input the store could not hold -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        # Year 1 in Damascus (+02:00) is before the earliest UTC datetime.
        ("early.txt", "عنوان\n\n01/01/0001\n\nنص.\n", "out of range"),
        ("early.jsonl", jsonl({"id": "e", "title": "ت", "published": "0001-01-01"}), "range"),
        (
            "late.jsonl",
            jsonl({"id": "l", "title": "ت", "updated": "9999-12-31T23:00-05:00"}),
            "range",
        ),
        ("long.jsonl", jsonl({"id": "x" * 256, "title": "ت"}), "id is longer than 255"),
        ("tag.jsonl", jsonl({"id": "t", "title": "ت", "tags": ["و" * 256]}), "longer than 255"),
        ("tag.txt", "عنوان\n\nنص.\n\nالوسوم\n" + "و" * 256 + "\n", "longer than 255"),
    ],
)
def test_values_the_store_cannot_hold_are_rejects(
    tmp_path: Path, name: str, content: str, reason: str
) -> None:
    [problem] = read_path(write(tmp_path / name, content), make_config(tmp_path), NOW)
    assert isinstance(problem, Reject)
    assert reason in problem.reason


def test_longest_id_and_tag_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", jsonl({"id": "x" * 255, "title": "ت", "tags": ["و" * 255]}))
    article = one_article(path, make_config(tmp_path))
    assert (len(article.id), len(article.tags[0].key)) == (255, 255)


@pytest.mark.skipif(os.name == "nt", reason="file names are bytes on POSIX only")
def test_file_name_that_is_not_utf8_is_a_reject_naming_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    try:
        (src / os.fsdecode(b"bad-\xff.txt")).write_text("عنوان\n\nنص.\n", encoding="utf-8")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    write(src / "good.txt", "عنوان\n\nنص.\n")
    items = list(read_sources(make_config(tmp_path, sources=[src]), NOW))
    [problem] = rejects(items)
    assert problem.source == f"{src}/bad-\\xff.txt"
    problem.source.encode("utf-8")  # storable
    assert problem.reason == "file name is not UTF-8"
    assert [a.id for a in articles(items)] == ["good"]


# --- the ingest run: rejects as of the latest reading --------------------------------


def test_a_file_fixed_since_the_last_run_loses_its_rejects(tmp_path: Path, store: SqlStore) -> None:
    src = tmp_path / "src"
    cfg = make_config(tmp_path, sources=[src, tmp_path / "later"])
    page = write(src / "page.txt", "عنوان\n\n31/02/2026\n\nنص.\n")
    records = write(src / "r.jsonl", jsonl(GOOD, "[1]", {"id": "nt"}))
    first = pipeline.ingest_sources(cfg, store, NOW)
    assert (first.new, first.rejected) == (1, 4)  # later/ is missing: a reject too
    assert {(r.source, r.location) for r in store.rejects()} == {
        (str(page), "line 3"),
        (str(records), "line 2"),
        (str(records), "line 3, id nt"),
        (str(tmp_path / "later"), None),
    }

    later = NOW + timedelta(hours=1)
    write(page, "عنوان\n\n28/02/2026\n\nنص.\n")
    write(records, jsonl(GOOD, "[1]", {"id": "nt", "title": "صار له عنوان"}))
    (tmp_path / "later").mkdir()
    second = pipeline.ingest_sources(cfg, store, later)

    assert (second.new, second.unchanged, second.rejected) == (2, 1, 1)
    [still] = store.rejects()
    assert (still.source, still.location, still.seen) == (str(records), "line 2", later)


def test_a_file_bad_again_in_another_way_has_only_its_new_reject(
    tmp_path: Path, store: SqlStore
) -> None:
    cfg = make_config(tmp_path, sources=[tmp_path / "src"])
    page = write(tmp_path / "src" / "page.txt", b"")
    pipeline.ingest_sources(cfg, store, NOW)
    write(page, b"\xff\xfe")
    pipeline.ingest_sources(cfg, store, NOW + timedelta(minutes=10))
    assert [r.reason for r in store.rejects()] == ["not UTF-8 (byte 0xff at offset 0)"]


def test_a_record_updated_later_in_its_file_is_unchanged_on_the_next_run(
    tmp_path: Path, store: SqlStore
) -> None:
    cfg = make_config(tmp_path, sources=[tmp_path / "src"])
    first = {"id": "a", "title": "أول", "published": "2026-11-20T10:00"}
    second = {**first, "title": "ثان", "updated": "2026-11-21T10:00"}
    write(tmp_path / "src" / "r.jsonl", jsonl(first, GOOD, second))

    one = pipeline.ingest_sources(cfg, store, NOW)
    two = pipeline.ingest_sources(cfg, store, NOW + timedelta(hours=1))

    assert (one.new, one.updated) == (2, 0)
    assert (two.new, two.updated, two.unchanged) == (0, 0, 2)
    stored = store.get_article("a")
    assert stored is not None
    assert (stored.title, stored.updated) == ("ثان", datetime(2026, 11, 21, 7, 0, tzinfo=UTC))


def test_a_reject_naming_an_id_with_control_characters_can_be_stored(
    tmp_path: Path, store: SqlStore
) -> None:
    """PostgreSQL refuses NUL in text: the id in the reject's location is
    cleaned like the id itself, or the whole ingest would fail."""
    cfg = make_config(tmp_path, sources=[tmp_path / "src"])
    write(tmp_path / "src" / "l.json", json.dumps([{"id": "a\u0000b\u0007", "text": "x"}, GOOD]))

    report = pipeline.ingest_sources(cfg, store, NOW)

    assert (report.new, report.rejected) == (1, 1)
    [problem] = store.rejects()
    assert (problem.location, problem.reason) == ("id ab", "no title")
