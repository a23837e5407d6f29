"""A synthetic Arabic news corpus for the benchmarks, the same articles written
twice: as JSONL records (one file per month, like a CMS export) and as
scraped pages (one ``<id>.txt`` per article, site chrome and all).

Deterministic: the same seed and sizes give the same bytes, so numbers from
two machines or two commits are about the same input.

    .venv/bin/python bench/corpus.py --size S --out bench/work/corpus-S

Both forms ingest to the same article (title, summary, content, tags,
published); only the records carry a url and an author. Tag names are never
site chrome, and no line of a page looks like a date line or chrome, so the
pages ingest without rejects and without the vocabulary adding tags.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SITE_TZ = ZoneInfo("Asia/Damascus")
SITE_URL = "https://news.example.org"
# Three years of publishing; the benchmark clock stands just after the end.
CORPUS_START = datetime(2024, 1, 1, tzinfo=SITE_TZ)
CORPUS_END = datetime(2027, 1, 1, tzinfo=SITE_TZ)
BENCH_NOW = "2027-01-01T12:00:00+03:00"
DEFAULT_SEED = 8  # issue 8

# name -> (articles, tags)
SIZES: dict[str, tuple[int, int]] = {
    "S": (1_000, 100),
    "M": (10_000, 500),
    "L": (100_000, 2_000),
}

ZIPF_EXPONENT = 1.0  # a few tags carry most articles, a long tail carries a handful each
# A paragraph stops up to one word short of its share, so the floor has room.
HTML_BYTES = (3 * 1024 + 400, 6 * 1024)
PARAGRAPHS = (5, 12)
TITLE_WORDS = (6, 12)
TAGS_PER_ARTICLE = (2, 6)

# News vocabulary; none of these is a chrome line on its own, none holds a digit.
_WORDS_TEXT = """
    أعلنت وزارة النقل اليوم عن افتتاح طريق سريع يربط بين المدن الساحلية والداخلية
    في خطوة قالت إنها ستختصر زمن الرحلة وتخفف الازدحام وأكد المدير العام للمؤسسة
    أن الأعمال مستمرة رغم الصعوبات المالية والفنية التي تواجه المشروع منذ بدايته
    وبحث الجانبان سبل تعزيز التعاون الاقتصادي والتجاري وتبادل الخبرات في مجالات
    الطاقة والزراعة والصناعة والصحة والتعليم العالي والبحث العلمي والاتصالات
    كما ناقش المجتمعون خطة العمل للمرحلة المقبلة وآليات التنفيذ والمتابعة الميدانية
    وأشار الوزير إلى أهمية الاستثمار في البنية التحتية وتأهيل الكوادر الوطنية
    الحكومة المجلس البلدية المحافظة الجامعة المستشفى المصرف المركزي الليرة السورية
    الأسعار الأسواق المحلية الصادرات المستوردات القمح الزيتون القطن الحمضيات الأدوية
    المواطنين السكان العائلات الطلاب المزارعين العمال الأطباء المهندسين المعلمين
    ارتفاع انخفاض تحسن تراجع استقرار زيادة تخفيض توسيع تطوير إصلاح تأهيل إنشاء
    الجديد الكبير الأول الثاني الرئيسي الوطني الدولي الإقليمي المشترك السنوي الشهري
    خلال العام الجاري الأسبوع الماضي الشهر المقبل الأيام القليلة الماضية منذ سنوات
    بحسب مصادر مطلعة وفق بيان رسمي نقلاً عن مسؤولين في القطاع وبحضور عدد من الخبراء
    وتأتي هذه الخطوة ضمن برنامج حكومي أوسع يهدف إلى دعم الإنتاج المحلي وتحسين الخدمات
    المياه الكهرباء المحروقات الغاز النقل العام السكك الحديدية المرفأ المطار الطرق
    المهرجان المعرض الكتاب المسرح السينما الموسيقا التراث الآثار المتحف المكتبة
    المنتخب الفريق المباراة الدوري البطولة الملعب المدرب اللاعبين الجمهور الموسم
    الأمطار الثلوج الرياح درجات الحرارة المنخفض الجوي الأرصاد الساحل الجبال البادية
    """
WORDS: tuple[str, ...] = tuple(_WORDS_TEXT.split())
NUMBERS: tuple[str, ...] = ("12", "45", "150", "18%", "750", "3", "27", "90%", "420", "6")

_TAG_TOPICS_TEXT = """
    الزراعة الصناعة التجارة الطاقة الكهرباء المياه النقل الصحة التعليم الجامعات
    السياحة الثقافة الآثار المسرح السينما الموسيقا الكتب الإعلام الاتصالات الإنترنت
    المصارف الضرائب الأسعار الأجور العقارات الإسكان البلديات الانتخابات البرلمان القضاء
    الأمن الدفاع الدبلوماسية اللاجئين الإغاثة البيئة المناخ الأمطار الزلازل الحرائق
    القمح الزيتون القطن الحمضيات الأدوية المحروقات الموانئ المطارات السكك الطرق
    """
TAG_TOPICS: tuple[str, ...] = tuple(_TAG_TOPICS_TEXT.split())
_TAG_PLACES_TEXT = """
    دمشق حلب حمص حماة اللاذقية طرطوس إدلب درعا السويداء القنيطرة الرقة دوما
    الحسكة تدمر بانياس جبلة القامشلي منبج النبك يبرود الزبداني صافيتا مصياف السلمية
    بيروت عمان بغداد القاهرة الرياض أنقرة موسكو طهران بكين باريس برلين لندن روما
    مدريد أثينا نيقوسيا تونس الجزائر الرباط الخرطوم صنعاء مسقط الدوحة الكويت المنامة
    """
TAG_PLACES: tuple[str, ...] = tuple(_TAG_PLACES_TEXT.split())
SECTIONS: tuple[str, ...] = ("local", "economy", "world", "culture", "sports", "weather")
AUTHORS: tuple[str, ...] = ("قسم الأخبار", "قسم الاقتصاد", "مراسل دمشق", "قسم الثقافة", "سانا")

# Site chrome around every scraped page, as on samples/pages/*.txt.
PAGE_HEADERS: tuple[tuple[str, ...], ...] = (
    ("الرئيسية", "أخبار"),
    ("أخبار", "أخر الأخبار"),
    ("الرئيسية", "محليات"),
)
PAGE_FOOTER: tuple[str, ...] = (
    "اظهر المزيد",
    "",
    "مقالات ذات صلة",
    "",
    "زر الذهاب إلى الأعلى",
    "أصابات",
    "رسالة",
    "إغلاق",
)


@dataclass(frozen=True)
class CorpusArticle:
    id: str
    title: str
    paragraphs: tuple[str, ...]  # the first is the lead (and the summary)
    published: datetime
    tags: tuple[str, ...]
    author: str | None
    url: str | None

    @property
    def html(self) -> str:
        return "".join(f"<p>{paragraph}</p>" for paragraph in self.paragraphs)

    def record(self) -> dict[str, object]:
        record: dict[str, object] = {
            "id": self.id,
            "title": self.title,
            "summary": self.paragraphs[0],
            "content": self.html,
        }
        if self.author is not None:
            record["author"] = self.author
        record["published"] = self.published.isoformat()
        record["tags"] = list(self.tags)
        if self.url is not None:
            record["url"] = self.url
        return record


@dataclass(frozen=True)
class CorpusInfo:
    root: Path
    articles: int
    tags: int
    seed: int

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def pages(self) -> Path:
        return self.root / "pages"


def tag_names(count: int) -> list[str]:
    """``count`` distinct Arabic tag names, most popular first: a topic and a
    place, two or more words, so none is a chrome line such as «اقتصاد»."""
    pairs = itertools.product(TAG_PLACES, TAG_TOPICS)
    names = [f"{topic} {place}" for place, topic in itertools.islice(pairs, count)]
    if len(names) < count:
        raise ValueError(f"at most {len(TAG_TOPICS) * len(TAG_PLACES)} tags")
    return names


def _paragraph(rng: random.Random, target_bytes: int) -> str:
    """Sentences of 8-16 words, each ending with a full stop, filled up to
    (and never past) ``target_bytes`` of UTF-8: long enough never to pass
    for a date line."""
    words: list[str] = []
    size = -1  # no space before the first word
    sentence_left = rng.randint(8, 16)
    while True:
        word = rng.choice(NUMBERS) if rng.random() < 0.03 else rng.choice(WORDS)
        if size + 1 + len(word.encode("utf-8")) + 1 > target_bytes and len(words) >= 4:
            break
        words.append(word)
        size += 1 + len(word.encode("utf-8"))
        sentence_left -= 1
        if sentence_left == 0:
            words[-1] += "."
            size += 1
            sentence_left = rng.randint(8, 16)
    if not words[-1].endswith("."):
        words[-1] += "."
    return " ".join(words)


def _article(
    rng: random.Random, number: int, published: datetime, tags: list[str], cumulative: list[float]
) -> CorpusArticle:
    title = " ".join(rng.choices(WORDS, k=rng.randint(*TITLE_WORDS)))
    count = rng.randint(*PARAGRAPHS)
    html_bytes = rng.randint(*HTML_BYTES)
    text_bytes = (html_bytes - len("<p></p>") * count) // count
    paragraphs = tuple(_paragraph(rng, text_bytes) for _ in range(count))
    chosen: list[str] = []
    wanted = min(rng.randint(*TAGS_PER_ARTICLE), len(tags))
    while len(chosen) < wanted:
        tag = tags[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
        if tag not in chosen:
            chosen.append(tag)
    article_id = f"{published:%Y-%m-%d}-{number:06d}"
    return CorpusArticle(
        id=article_id,
        title=title,
        paragraphs=paragraphs,
        published=published,
        tags=tuple(chosen),
        author=rng.choice(AUTHORS) if rng.random() < 0.6 else None,
        url=f"{SITE_URL}/{rng.choice(SECTIONS)}/{article_id}" if rng.random() < 0.8 else None,
    )


def articles(count: int, tag_count: int, seed: int = DEFAULT_SEED) -> list[CorpusArticle]:
    """``count`` articles, oldest first, spread at random over the three years."""
    rng = random.Random(seed)
    tags = tag_names(tag_count)
    cumulative = list(
        itertools.accumulate(1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(tag_count))
    )
    span = int((CORPUS_END - CORPUS_START).total_seconds() // 60)
    minutes = sorted(rng.randrange(span) for _ in range(count))
    return [
        _article(
            rng,
            number,
            # Wall-clock arithmetic in UTC, then the site's offset for that moment.
            (CORPUS_START.astimezone(ZoneInfo("UTC")) + timedelta(minutes=offset)).astimezone(
                SITE_TZ
            ),
            tags,
            cumulative,
        )
        for number, offset in enumerate(minutes)
    ]


def page_text(article: CorpusArticle, rng: random.Random) -> str:
    """The article as a scraped page: chrome, title, date line, the teaser (lead),
    the title again, the lead again, paragraphs (one maybe broken mid-sentence,
    as scrapers do), «الوسوم» with one tag a line, footer chrome."""
    lines: list[str] = [*rng.choice(PAGE_HEADERS), ""]
    lines += [article.title, ""]
    when = f"{article.published:%Y-%m-%d %H:%M}"  # no offset: the site's zone
    lines += [rng.choice((when, f"نشر في {when}", f"دمشق - {when}")), ""]
    lead = article.paragraphs[0]
    lines += [lead, "", article.title, "", lead, ""]
    body = list(article.paragraphs[1:])
    if body and rng.random() < 0.3:
        # Break one paragraph after a word that ends no sentence; ingest rejoins it.
        index = rng.randrange(len(body))
        words = body[index].split(" ")
        cuts = [i for i in range(4, len(words) - 4) if not words[i - 1].endswith(".")]
        if cuts:
            cut = rng.choice(cuts)
            body[index : index + 1] = [" ".join(words[:cut]), " ".join(words[cut:])]
    for paragraph in body:
        lines += [paragraph, ""]
    lines += ["الوسوم", *article.tags, *PAGE_FOOTER]
    return "\n".join(lines) + "\n"


def write_corpus(root: Path, count: int, tag_count: int, seed: int = DEFAULT_SEED) -> CorpusInfo:
    """Write ``root/records/<YYYY-MM>.jsonl`` and ``root/pages/<id>.txt``,
    replacing whatever was there."""
    info = CorpusInfo(root=root, articles=count, tags=tag_count, seed=seed)
    for folder in (info.records, info.pages):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    page_rng = random.Random(seed + 1)
    by_month: dict[str, list[str]] = {}
    for article in articles(count, tag_count, seed):
        line = json.dumps(article.record(), ensure_ascii=False)
        by_month.setdefault(f"{article.published:%Y-%m}", []).append(line)
        (info.pages / f"{article.id}.txt").write_text(
            page_text(article, page_rng), encoding="utf-8"
        )
    for month, lines in by_month.items():
        (info.records / f"{month}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return info


def new_article_record(number: int, tag_count: int) -> dict[str, object]:
    """One article newer than the whole corpus, tagged with the most popular
    tag and one from the tail: the incremental build's input."""
    published = datetime.fromisoformat(BENCH_NOW) - timedelta(hours=1, minutes=number)
    tags = tag_names(tag_count)
    return {
        "id": f"new-{number:04d}",
        "title": f"خبر عاجل رقم {number} عن افتتاح الطريق السريع بين المدن الساحلية",
        "summary": "أعلنت وزارة النقل اليوم عن افتتاح الطريق السريع.",
        "content": "<p>أعلنت وزارة النقل اليوم عن افتتاح الطريق السريع.</p>"
        "<p>وأكد المدير العام أن الأعمال انتهت قبل موعدها.</p>",
        "published": published.isoformat(),
        "tags": [tags[0], tags[-1]],
        "url": f"{SITE_URL}/local/new-{number:04d}",
    }


def write_config(
    folder: Path,
    sources: list[Path],
    *,
    store_url: str = "sqlite:///var/feedpub.db",
    output: str = "public",
) -> Path:
    """A feedpub config for a bench folder: the site of the shipped config,
    20 items per feed, all three formats, no vocabulary and no digests."""
    folder.mkdir(parents=True, exist_ok=True)
    source_lines = "".join(f"  - path: {json.dumps(str(path))}\n" for path in sources)
    text = (
        "# Written by bench/corpus.py.\n"
        "site:\n"
        '  title: "أخبار الشام"\n'
        f'  url: "{SITE_URL}"\n'
        '  description: "آخر أخبار سورية والمنطقة والعالم"\n'
        "  language: ar\n"
        "  timezone: Asia/Damascus\n"
        "store:\n"
        f"  url: {json.dumps(store_url)}\n"
        "sources:\n"
        f"{source_lines}"
        "feeds:\n"
        f"  output: {json.dumps(output)}\n"
        "  items: 20\n"
        "  min_items: 1\n"
        "  full_content: true\n"
        "  formats: [atom, rss, json]\n"
        "delivery:\n"
        "  outbox: var/outbox\n"
    )
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--articles", type=int, help="override the size's article count")
    parser.add_argument("--tags", type=int, help="override the size's tag count")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    count, tag_count = SIZES[args.size]
    info = write_corpus(args.out, args.articles or count, args.tags or tag_count, args.seed)
    print(f"{info.articles} articles, {info.tags} tags -> {info.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
