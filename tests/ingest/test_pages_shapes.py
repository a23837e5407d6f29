"""Chrome read by its shape, in a folder of one or two pages where nothing
can be learned: navigation bars, share and follow lines, copyright and
policy lines, related-article lists and where they end, photo credits,
bylines as the author and «آخر تحديث» as ``updated``; and the site
that asked for them, «النيل اليوم», from its folder to the digest in the
outbox and the feed a reader fetches."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedpub import ingest
from feedpub.ingest.chrome import counted_lines
from feedpub.ingest.dates import find_page_date
from feedpub.ingest.shapes import (
    is_nav,
    legal_reason,
    photo_credit_reason,
    read_byline,
    share_reason,
)
from feedpub.model import Article
from feedpub.text.arabic import normalize_arabic, tag_key
from support.ingesting import NOW, make_config, one_article, paragraphs, read_path, write

DAMASCUS = ZoneInfo("Asia/Damascus")
REPO = Path(__file__).resolve().parents[2]
NILE_TODAY = REPO / "tests" / "fixtures" / "pages" / "nile-today"


def _words(line: str) -> int:
    return len(line.split())


@pytest.mark.parametrize(
    ("line", "nav"),
    [
        ("الرئيسية | سياسة | اقتصاد | رياضة", True),
        ("الرئيسية · محافظات · حوادث · اقتصاد وبورصة", True),
        ("محليات • اقتصاد • رياضة • ثقافة", True),
        ("الرئيسية - سياسة - مجتمع - فن وثقافة", True),
        ("أخبار / رياضة / منوعات", True),
        ("فيديو | لحظة انهيار عقار في الإسكندرية", False),  # a kicker and a headline
        ("القاهرة - النيل اليوم", False),  # a dateline: two parts
        ("مصر - السودان - إثيوبيا: جولة مفاوضات جديدة حول سد النهضة", False),
        ("كوفيد-19 وكم/سا وأ-ب", False),  # unspaced - and / join words
        ("1 | 2 | 3", False),  # pagination: no letters
        ("قال «الرئيس » إن | المجلس | سيجتمع", False),  # » closes a quote
    ],
)
def test_a_navigation_bar_is_short_items_between_separators(line: str, nav: bool) -> None:
    assert is_nav(line, _words(line)) is nav


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("شارك على فيسبوك", "share"),
        ("شارك عبر واتساب", "share"),
        ("Facebook Twitter WhatsApp", "share"),
        ("مشاركة: فيسبوك | تويتر | تيليجرام", "share"),
        ("نسخ الرابط", "copy-link"),
        ("تم نسخ الرابط", "copy-link"),
        ("تابعوا النيل اليوم على واتساب", "follow"),
        ("تابعونا على تويتر وسناب شات", "follow"),
        ("حمّل تطبيق صدى الرياض", "follow"),
        ("شارك 300 عداء في ماراثون الأقصر", None),  # a headline opening with شارك
        ("وتابع الوزير جولته في محطة الجيزة", None),
        ("تابع الوزير أعمال الحفر", None),  # no network or app named
    ],
)
def test_share_copy_link_and_follow_lines(line: str, kind: str | None) -> None:
    reason = share_reason(normalize_arabic(line), _words(line))
    if kind is None:
        assert reason is None
    else:
        assert (
            reason is not None
            and {
                "share": "share buttons",
                "copy-link": "copy-link",
                "follow": "follow",
            }[kind]
            in reason
        )


@pytest.mark.parametrize(
    ("line", "legal"),
    [
        ("جميع الحقوق محفوظة © 2026 النيل اليوم", True),
        ("© بوابة الصعيد 2026", True),
        ("جميع الحقوق محفوظة لصدى الرياض 2026", True),
        ("حقوق النشر محفوظة للموقع", True),
        ("All rights reserved", True),
        ("سياسة الخصوصية", True),
        ("من نحن", True),
        ("اتصل بنا", True),
        ("وطالبت منظمات حقوق الإنسان بالإفراج عن المعتقلين.", False),
        ("وزارة الثقافة تحمي حقوق المؤلفين في المعرض", False),
    ],
)
def test_copyright_and_policy_lines(line: str, legal: bool) -> None:
    reason = legal_reason(line, normalize_arabic(line), tag_key(line), _words(line))
    assert (reason is not None) is legal


@pytest.mark.parametrize(
    ("line", "caption"),
    [
        ("صورة أرشيفية لمزارعين في محافظة الشرقية", True),
        ("صورة: واجهة المستشفى الجديد", True),
        ("تصوير: حسن الأقصري", True),
        ("عرض الصوت والضوء أمام أبي الهول (أرشيفية)", True),
        ("محطة قصر الحكم في وسط الرياض (واس)", True),
        ("سفينة في الميناء (أ.ف.ب)", True),
        ("حقل لقصب السكر في إدفو - أرشيفية", True),
        ("لحظة انهيار عقار في الإسكندرية (فيديو)", False),  # a headline, no credit
        ("صور الأقمار الصناعية تكشف حجم الفيضان", False),
        ("وقال المتحدث إن الصور متداولة منذ أمس (رويترز).", False),  # a sentence
    ],
)
def test_photo_captions_by_their_credit(line: str, caption: bool) -> None:
    reason = photo_credit_reason(line, normalize_arabic(line), _words(line))
    assert (reason is not None) is caption


@pytest.mark.parametrize(
    ("line", "name", "writer", "rest"),
    [
        ("كتب: محمد عبد الحميد", "محمد عبد الحميد", True, ""),
        ("كتبت - هبة الله عثمان", "هبة الله عثمان", True, ""),
        ("بقلم د. سامية عبد الرحيم", "د. سامية عبد الرحيم", True, ""),
        ("بقلم: تركي الدوسري", "تركي الدوسري", True, ""),
        ("القاهرة - النيل اليوم", "النيل اليوم", True, ""),
        ("الرياض - واس", "واس", True, ""),
        ("المصدر: سانا", "سانا", False, ""),
        (
            "كتب: أحمد سمير | الأحد 29 نوفمبر 2026 - 10:15 ص",
            "أحمد سمير",
            True,
            "الأحد 29 نوفمبر 2026 - 10:15 ص",
        ),
        ("مُتابعة: فريق التحرير", "فريق التحرير", True, ""),
    ],
)
def test_bylines_give_the_name_as_written(line: str, name: str, writer: bool, rest: str) -> None:
    found = read_byline(line, normalize_arabic(line), _words(line))
    assert found is not None
    assert (found.name, found.writer, found.rest) == (name, writer, rest)


@pytest.mark.parametrize(
    "line",
    [
        "تقرير: كيف غيرت الحرب خريطة الموانئ",  # a kicker, not a byline
        "مراجعة: هاتف بعمر بطارية يتجاوز يومين",
        "وزير النقل: تشغيل المرحلة الأولى منتصف 2027",
        "كتب ومجلات في جناح الأطفال",  # كتب: books
        "كتب: أحمد سمير.",  # a sentence
    ],
)
def test_headlines_and_captions_are_no_bylines(line: str) -> None:
    found = read_byline(line, normalize_arabic(line), _words(line))
    assert found is None or found.name is None or found.writer is False


@pytest.mark.parametrize(
    ("line", "published", "updated"),
    [
        (
            "نشر في: 29/11/2026 09:30 | آخر تحديث: 29/11/2026 11:45",
            datetime(2026, 11, 29, 9, 30, tzinfo=DAMASCUS),
            datetime(2026, 11, 29, 11, 45, tzinfo=DAMASCUS),
        ),
        (
            "آخر تحديث: 29/11/2026 11:45 - نشر في: 29/11/2026 09:30",
            datetime(2026, 11, 29, 9, 30, tzinfo=DAMASCUS),
            datetime(2026, 11, 29, 11, 45, tzinfo=DAMASCUS),
        ),
        (
            "الأحد، 29 نوفمبر 2026 10:15 ص آخر تحديث: 12:40 م",
            datetime(2026, 11, 29, 10, 15, tzinfo=DAMASCUS),
            datetime(2026, 11, 29, 12, 40, tzinfo=DAMASCUS),
        ),
        (
            "الأحد 19 جمادى الآخرة 1448 هـ - 29 نوفمبر 2026 م",
            datetime(2026, 11, 29, tzinfo=DAMASCUS),
            None,
        ),
        ("السبت 28 نونبر 2026 - 10:30", datetime(2026, 11, 28, 10, 30, tzinfo=DAMASCUS), None),
        ("٢٩ تشرين الثاني (نوفمبر) ٢٠٢٦", datetime(2026, 11, 29, tzinfo=DAMASCUS), None),
        ("29 نوفمبر/تشرين الثاني 2026", datetime(2026, 11, 29, tzinfo=DAMASCUS), None),
        ("12 جويلية 2026 | 09:45", datetime(2026, 7, 12, 9, 45, tzinfo=DAMASCUS), None),
        ("18 غشت 2026", datetime(2026, 8, 18, tzinfo=DAMASCUS), None),
        ("5 ماي 2026", datetime(2026, 5, 5, tzinfo=DAMASCUS), None),
        ("9 شتنبر 2026", datetime(2026, 9, 9, tzinfo=DAMASCUS), None),
        ("1 دجنبر 2025", datetime(2025, 12, 1, tzinfo=DAMASCUS), None),
    ],
)
def test_date_lines_of_every_region(
    line: str, published: datetime, updated: datetime | None
) -> None:
    found = find_page_date(line, DAMASCUS, datetime(2026, 11, 30, tzinfo=DAMASCUS))
    assert found is not None and not found.update
    assert (found.value, found.updated) == (published, updated)


def test_an_update_with_a_relative_date() -> None:
    mtime = datetime(2026, 11, 29, 14, 0, tzinfo=DAMASCUS)
    found = find_page_date("آخر تحديث: منذ ساعتين", DAMASCUS, mtime)
    assert found is not None and found.update
    assert found.value == datetime(2026, 11, 29, 12, 0, tzinfo=DAMASCUS)


# A page of a layout nobody listed, alone in its folder: every rule below
# is one a folder of fifty pages would not need.
LONE_PAGE = """\
النيل اليوم
الرئيسية | سياسة | اقتصاد | رياضة | حوادث | فن
الأحد، 29 نوفمبر 2026

تحويلات المصريين بالخارج تسجل رقما قياسيا في أكتوبر

كتب: أحمد عبد الفتاح
الأحد، 29 نوفمبر 2026 10:15 ص
آخر تحديث: 12:40 م

شارك على فيسبوك
نسخ الرابط

سجلت تحويلات المصريين العاملين بالخارج رقماً قياسياً جديداً خلال شهر أكتوبر الماضي.

صورة أرشيفية لمقر البنك المركزي

وقال البنك المركزي إن التحويلات ارتفعت بنسبة 18 بالمئة على أساس سنوي، مدعومة

بتوحيد سعر الصرف.

اقرأ أيضاً:
البنك المركزي يثبت أسعار الفائدة
ارتفاع احتياطي النقد الأجنبي

وأضاف أن الارتفاع يعكس ثقة المغتربين في القطاع المصرفي.

شارك على فيسبوك
شارك على تويتر

جميع الحقوق محفوظة © 2026 النيل اليوم
موقع إخباري مصري مستقل يغطي الأحداث على مدار الساعة.
"""


def test_a_lone_page_reads_by_the_shapes_of_its_lines(tmp_path: Path) -> None:
    article = one_article(write(tmp_path / "lone" / "p.txt", LONE_PAGE), make_config(tmp_path))
    assert article.title == "تحويلات المصريين بالخارج تسجل رقما قياسيا في أكتوبر"
    assert paragraphs(article) == [
        "سجلت تحويلات المصريين العاملين بالخارج رقماً قياسياً جديداً خلال شهر أكتوبر الماضي.",
        "وقال البنك المركزي إن التحويلات ارتفعت بنسبة 18 بالمئة على أساس سنوي، مدعومة "
        "بتوحيد سعر الصرف.",
        "وأضاف أن الارتفاع يعكس ثقة المغتربين في القطاع المصرفي.",
    ]
    assert article.author == "أحمد عبد الفتاح"
    # The top bar's date is the day's, not the article's; the update a time that day.
    assert article.published == datetime(2026, 11, 29, 10, 15, tzinfo=DAMASCUS)
    assert article.updated == datetime(2026, 11, 29, 12, 40, tzinfo=DAMASCUS)
    assert [tag.name for tag in article.tags] == []


def test_explain_names_each_new_role_and_why(tmp_path: Path) -> None:
    page = write(tmp_path / "lone" / "p.txt", LONE_PAGE)
    cfg = make_config(tmp_path)
    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    out = ingest.explain_path(page, run, NOW)
    roles = {line.split("  [")[0][18:].strip(): line[6:18].strip() for line in out}
    reasons = {
        line.split("  [")[0][18:].strip(): line.split("  [")[1] for line in out if "[" in line
    }
    assert roles["الرئيسية | سياسة | اقتصاد | رياضة | حوادث | فن"] == "nav"
    assert roles["شارك على فيسبوك"] == "share"
    assert roles["جميع الحقوق محفوظة © 2026 النيل اليوم"] == "legal"
    assert "the article ends here" in reasons["جميع الحقوق محفوظة © 2026 النيل اليوم"]
    assert roles["موقع إخباري مصري مستقل يغطي الأحداث على مدار الساعة."] == "chrome"
    assert roles["اقرأ أيضاً:"] == "related"
    assert roles["البنك المركزي يثبت أسعار الفائدة"] == "related"
    assert "under line" in reasons["ارتفاع احتياطي النقد الأجنبي"]
    assert roles["صورة أرشيفية لمقر البنك المركزي"] == "caption"
    assert roles["كتب: أحمد عبد الفتاح"] == "byline"
    assert "أحمد عبد الفتاح" in reasons["كتب: أحمد عبد الفتاح"]
    assert roles["آخر تحديث: 12:40 م"] == "date"
    assert "update" in reasons["آخر تحديث: 12:40 م"]


def test_a_related_list_between_paragraphs_lets_the_article_go_on(tmp_path: Path) -> None:
    # Items apart (blank lines between them): the list ends at the sentence.
    page = (
        "عنوان الخبر عن الموسم السياحي\n\nالمقدمة كاملة هنا.\n\nاقرأ المزيد\n\n"
        "عنوان آخر عن الفنادق العائمة\n\nعنوان ثالث عن المتحف الكبير\n\n"
        "وأضاف المسؤول أن الموسم يبدأ مبكراً هذا العام بفضل الطقس المعتدل.\n"
    )
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert paragraphs(article) == [
        "المقدمة كاملة هنا.",
        "وأضاف المسؤول أن الموسم يبدأ مبكراً هذا العام بفضل الطقس المعتدل.",
    ]


def test_a_related_list_at_the_foot_ends_the_article(tmp_path: Path) -> None:
    page = (
        "عنوان الخبر عن الموسم السياحي\n\nالمقدمة كاملة هنا.\n\nمقالات ذات صلة\n"
        "عنوان آخر عن الفنادق العائمة\nعنوان ثالث عن المتحف الكبير\n\n"
        "تطبيق الموقع متوفر الآن\nاكتشف عروضنا للمعلنين\n"
    )
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert paragraphs(article) == ["المقدمة كاملة هنا."]


def test_a_tag_block_after_a_list_at_the_foot_is_still_read(tmp_path: Path) -> None:
    page = (
        "عنوان الخبر عن الموسم السياحي\n\nالمقدمة كاملة هنا.\n\nمقالات ذات صلة\n"
        "عنوان آخر عن الفنادق العائمة\n\nالوسوم\nالسياحة\nالأقصر\n"
    )
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert [tag.name for tag in article.tags] == ["السياحة", "الأقصر"]


@pytest.mark.parametrize(
    ("line", "tags"),
    [
        ("الوسوم: مصر، اقتصاد، البورصة", ["مصر", "اقتصاد", "البورصة"]),
        ("كلمات مفتاحية: الأقصر، السياحة", ["الأقصر", "السياحة"]),
        (
            "الكلمات المفتاحية: الطاقة الشمسية - أدرار - كوفيد-19",
            ["الطاقة الشمسية", "أدرار", "كوفيد-19"],
        ),
        ("وسوم: سوهاج | الصحة", ["سوهاج", "الصحة"]),
    ],
)
def test_tags_after_a_label_on_one_line(tmp_path: Path, line: str, tags: list[str]) -> None:
    page = f"عنوان الخبر عن الموسم السياحي\n\nالمقدمة كاملة هنا.\n\n{line}\n\n© الموقع 2026\n"
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert [tag.name for tag in article.tags] == tags
    assert paragraphs(article) == ["المقدمة كاملة هنا."]


def test_a_source_credit_is_the_author_only_without_a_byline(tmp_path: Path) -> None:
    base = "عنوان الخبر عن الموسم السياحي\n\n{}\n\nالمقدمة كاملة هنا.\n"
    cfg = make_config(tmp_path)
    credit = one_article(write(tmp_path / "a.txt", base.format("المصدر: واس")), cfg)
    both = one_article(write(tmp_path / "b.txt", base.format("المصدر: واس\nبقلم: سارة")), cfg)
    helper = one_article(write(tmp_path / "c.txt", base.format("ترجمة: هاني")), cfg)
    assert (credit.author, both.author, helper.author) == ("واس", "سارة", None)


def test_a_headline_in_other_pages_lists_is_not_learned_as_chrome() -> None:
    page = "الأكثر قراءة\nعنوان الخبر الأول\nعنوان الخبر الثاني\n\nعنوان هذه الصفحة\n\nنص.\n"
    assert counted_lines(page) == {"الأكثر قراءة", "عنوان هذه الصفحة", "نص."}
    spaced = "اقرأ أيضاً:\n\nعنوان الخبر الأول\n\nوأضاف المسؤول أن العمل مستمر منذ أشهر طويلة.\n"
    assert "عنوان الخبر الأول" not in counted_lines(spaced)


def _nile_site(root: Path) -> Path:
    """The shipped config.yaml reading the two «النيل اليوم» pages only."""
    (root / "samples").mkdir()
    shutil.copyfile(REPO / "samples" / "subscribers.csv", root / "samples" / "subscribers.csv")
    folder = root / "nile"
    folder.mkdir()
    for page in sorted(NILE_TODAY.glob("*.txt")):
        shutil.copyfile(page, folder / page.name)
        stamp = datetime(2026, 11, 29, 13, 5, tzinfo=DAMASCUS).timestamp()
        os.utime(folder / page.name, (stamp, stamp))
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    sources = "  - path: samples/pages\n  - path: samples/records\n"
    assert sources in text, "config.yaml no longer lists the samples"
    config = root / "config.yaml"
    config.write_text(text.replace(sources, "  - path: nile\n"), encoding="utf-8")
    return config


def _outbox(root: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted((root / "var" / "outbox" / "new").iterdir())
    ]


def test_a_new_sites_two_pages_reach_the_digest_and_the_feed_as_articles(
    tmp_path: Path,
) -> None:
    """The report's site: two pages in a folder of two, through ``feedpub
    run``. The digest in the outbox and the Atom feed a reader fetches carry
    the two headlines, their authors and updates, never the nav bar, the
    share lines or the copyright line; no tag comes from the nav bar's words
    (the vocabulary has رياضة and اقتصاد)."""
    config = _nile_site(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPUB_")}
    env["FEEDPUB_NOW"] = "2026-11-30T07:30:00+03:00"  # the next morning's digest holds both
    env["FEEDPUB_SECRET"] = "nile-today-secret-0123456789abcdef"
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    headlines = {
        "الحكومة تعلن خطة لخفض أسعار الأسمدة للمزارعين قبل الموسم الشتوي",
        "عودة عروض الصوت والضوء بمنطقة الأهرامات بعد تطويرها بتقنيات حديثة",
    }
    feed = feedparser.parse((tmp_path / "public" / "atom.xml").read_bytes())
    assert {entry.title for entry in feed.entries} == headlines
    by_title = {entry.title: entry for entry in feed.entries}
    fertilizer = by_title["الحكومة تعلن خطة لخفض أسعار الأسمدة للمزارعين قبل الموسم الشتوي"]
    assert fertilizer.author == "النيل اليوم"
    assert fertilizer.updated_parsed[:5] == (2026, 11, 29, 9, 40)  # 12:40 in Damascus
    pyramids = by_title["عودة عروض الصوت والضوء بمنطقة الأهرامات بعد تطويرها بتقنيات حديثة"]
    assert pyramids.author == "أحمد عبد الفتاح"
    chrome = ("الرئيسية |", "شارك على", "نسخ الرابط", "جميع الحقوق محفوظة", "اقرأ أيضاً")
    for entry in feed.entries:
        body = entry.content[0].value
        assert not any(line in body for line in chrome), entry.title
        terms = {value for tag in entry.get("tags", []) for value in (tag.term, tag.label)}
        assert "رياضة" not in terms, entry.title

    messages = _outbox(tmp_path)
    assert messages, done.stdout
    for message in messages:
        html = message.get_body(("html",))
        assert html is not None
        text = html.get_content()
        assert all(headline in text for headline in headlines)
        assert not any(line in text for line in chrome)


def test_a_dateline_amid_the_text_names_no_author(tmp_path: Path) -> None:
    page = (
        "قمة ثلاثية في القاهرة حول مياه النيل\n\nالمقدمة كاملة هنا.\n\n"
        "مصر - السودان\n\nوأضاف المسؤول أن الاجتماع المقبل في الخرطوم.\n\nبقلم: سارة\n"
    )
    article = one_article(write(tmp_path / "p.txt", page), make_config(tmp_path))
    assert article.author == "سارة"


_PIECES = [
    "|", "·", "•", "»", "«", " - ", "-", "/", ":", "©", "(", ")", "(رويترز)", "(فيديو)",
    "كتب:", "بقلم", "المصدر:", "ترجمة:", "اقرأ أيضاً", "اقرأ أيضاً:", "مقالات ذات صلة",
    "الأكثر قراءة", "الوسوم", "الوسوم:", "كلمات مفتاحية:", "آخر تحديث:", "نشر في:",
    "29/11/2026", "31/02/2026", "12:40", "25:99", "م", "ص", "نوفمبر", "نونبر", "2026",
    "جمادى الآخرة", "1448", "هـ", "منذ", "ساعتين", "شارك", "فيسبوك", "نسخ الرابط",
    "تابعونا على", "تطبيق", "صورة:", "أرشيفية", "جميع الحقوق محفوظة", "من نحن",
    "القاهرة", "النيل اليوم", "عنوان الخبر الطويل", "وأضاف الوزير أن العمل مستمر", ".",
    "؟", "،", "\u064b", "\u200f", "1", " ",
]  # fmt: skip
_LINE = st.lists(st.sampled_from(_PIECES), max_size=8).map(" ".join)


@given(st.lists(_LINE, max_size=25).map("\n".join))
@settings(max_examples=300, deadline=None)
def test_any_page_of_shape_pieces_reads_as_an_article_or_a_reject(page: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        cfg = make_config(Path(folder))
        path = write(Path(folder) / "p.txt", page or "x")
        items = read_path(path, cfg, NOW)
        assert items
        for item in items:
            if isinstance(item, Article):
                assert item.title and item.content
                assert item.updated >= item.published
            else:
                assert item.reason
