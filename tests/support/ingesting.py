"""The ingest tests' shared config, clock and file helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from feedpub import ingest
from feedpub.config import (
    Config,
    DeliveryConfig,
    EmailConfig,
    FeedsConfig,
    IngestConfig,
    SiteConfig,
    SourceConfig,
    StoreConfig,
    TagsConfig,
)
from feedpub.model import Article, Reject

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
# The seed stays in ../shared (beside the clone, in CI too); skipped where absent.
# (beside a worktree under wt/ it is one level further up).
SEED = next(
    (
        folder / "shared" / "seeds" / "000_a9baae875889dc1c.txt"
        for folder in (REPO.parent, REPO.parent.parent)
        if (folder / "shared" / "seeds").is_dir()
    ),
    REPO.parent / "shared" / "seeds" / "000_a9baae875889dc1c.txt",
)
DAMASCUS = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
MTIME = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC)

VOCABULARY: dict[str, tuple[str, ...]] = {
    "الأسد": (),
    "بوتين": (),
    "روسيا": ("روسي", "روسية", "الروسية", "موسكو"),
    "كورونا": ("كوفيد", "COVID-19", "الجائحة"),
    "سوريا": ("سورية", "السورية", "سوري", "دمشق"),
    "اقتصاد": ("اقتصادي", "اقتصادية", "الليرة", "التضخم", "الأسعار", "الصادرات"),
    "رياضة": ("كرة القدم", "كرة السلة", "المنتخب", "الدوري", "رياضي", "بطولة"),
    "طقس": ("الأرصاد الجوية", "أمطار", "منخفض جوي", "درجات الحرارة", "الثلوج", "الصقيع"),
}


def make_config(
    tmp_path: Path,
    *,
    vocabulary: Mapping[str, tuple[str, ...]] | None = None,
    sources: Sequence[Path] = (),
    max_article_bytes: int = 1024 * 1024,
) -> Config:
    return Config(
        path=tmp_path / "config.yaml",
        site=SiteConfig(
            title="أخبار",
            url="https://news.example.org",
            language="ar",
            timezone=DAMASCUS,
            description="",
        ),
        store=StoreConfig(url="sqlite://"),
        sources=tuple(SourceConfig.folder(p) for p in sources),
        tags=TagsConfig(vocabulary=dict(VOCABULARY if vocabulary is None else vocabulary)),
        ingest=IngestConfig(max_article_bytes=max_article_bytes),
        feeds=FeedsConfig(output=tmp_path / "public", url="https://news.example.org"),
        digests=(),
        email=EmailConfig(),
        delivery=DeliveryConfig(outbox=tmp_path / "outbox"),
    )


def run_settings(cfg: Config) -> ingest.Settings:
    return ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)


def read_path(path: Path, cfg: Config, now: datetime) -> list[Article | Reject]:
    return ingest.read_path(path, run_settings(cfg), now)


def read_sources(cfg: Config, now: datetime) -> list[Article | Reject]:
    return list(ingest.read_sources(cfg.sources, run_settings(cfg), now))


def write(path: Path, content: str | bytes, mtime: datetime = MTIME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def articles(items: Sequence[Article | Reject]) -> list[Article]:
    return [item for item in items if isinstance(item, Article)]


def rejects(items: Sequence[Article | Reject]) -> list[Reject]:
    return [item for item in items if isinstance(item, Reject)]


def one_article(path: Path, cfg: Config) -> Article:
    items = read_path(path, cfg, NOW)
    assert rejects(items) == []
    [article] = articles(items)
    return article


def paragraphs(article: Article) -> list[str]:
    return [p.removesuffix("</p>") for p in article.content.split("<p>") if p]


def jsonl(*records: object) -> str:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records
    )


GOOD = {"id": "g1", "title": "عنوان", "text": "فقرة أولى.\n\nفقرة ثانية."}
