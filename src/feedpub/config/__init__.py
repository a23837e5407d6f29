"""``config.yaml``: read with pyyaml's safe loader, validated into frozen values.

Every problem is one line naming the file, the line (where known), the key
path and the reason, raised as ``ConfigError`` (the CLI exits 2 on it).
Relative paths are relative to the config file. Secrets never live in the
file: they come from the environment (``FEEDPUB_STORE_URL`` overrides
``store.url`` so a PostgreSQL password need not be written down).

The validator is written by hand (about a hundred lines) rather than pulling
in a schema library: it needs YAML line numbers in every message, which the
maintained validators (pydantic, jsonschema) do not know about.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from feedpub import cron

T = TypeVar("T")

CONFIG_ENV = "FEEDPUB_CONFIG"
STORE_URL_ENV = "FEEDPUB_STORE_URL"

# Lines of site chrome (navigation, share buttons, widgets) that scraped pages
# carry around the article. Compared after whitespace is collapsed.
DEFAULT_CHROME_LINES: tuple[str, ...] = (
    "أخبار",
    "أخر الأخبار",
    "آخر الأخبار",
    "الرئيسية",
    "الصفحة الرئيسية",
    "الوسوم",
    "اظهر المزيد",
    "أظهر المزيد",
    "إظهار المزيد",
    "عرض المزيد",
    "اقرأ أيضا",
    "اقرأ أيضاً",
    "مقالات ذات صلة",
    "أخبار ذات صلة",
    "زر الذهاب إلى الأعلى",
    "العودة إلى الأعلى",
    "شارك",
    "شارك الخبر",
    "مشاركة",
    "فيسبوك",
    "تويتر",
    "واتساب",
    "تيليغرام",
    "لينكدإن",
    "طباعة",
    "أصابات",
    "إصابات",
    "رسالة",
    "إغلاق",
    "بحث",
    "محليات",
    "سياسة",
    "اقتصاد",
    "رياضة",
    "ثقافة",
    "منوعات",
    "دولي",
    "عربي ودولي",
    "Facebook",
    "Twitter",
    "WhatsApp",
    "Telegram",
)

FEED_FORMATS = ("atom", "rss", "json")


class ConfigError(Exception):
    """A config problem, already phrased for the operator."""


@dataclass(frozen=True)
class SiteConfig:
    title: str
    url: str
    language: str
    timezone: tzinfo
    description: str

    @property
    def domain(self) -> str:
        return re.sub(r"^[a-z]+://", "", self.url).split("/")[0].split(":")[0]


@dataclass(frozen=True)
class StoreConfig:
    url: str


@dataclass(frozen=True)
class SourceConfig:
    path: Path


@dataclass(frozen=True)
class IngestConfig:
    chrome_lines: tuple[str, ...] = DEFAULT_CHROME_LINES
    max_article_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class TagsConfig:
    # tag display name -> aliases (the name itself always matches too)
    vocabulary: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedsConfig:
    output: Path
    url: str
    formats: tuple[str, ...] = FEED_FORMATS
    items: int = 20
    min_items: int = 1
    full_content: bool = True
    websub_hub: str | None = None
    archive: bool = False
    archive_page_size: int = 100


@dataclass(frozen=True)
class DigestConfig:
    name: str
    schedule: str
    subject: str
    from_addr: str
    title: str = ""
    tags: tuple[str, ...] = ()
    max_items: int = 15
    only_if_new: bool = True
    first_lookback: timedelta = timedelta(hours=24)
    reply_to: str | None = None


@dataclass(frozen=True)
class EmailConfig:
    postal_address: str = ""
    locale: str = "ar_SY"
    digits: str = "arab"  # "arab" (٠١٢) or "latn" (012)
    max_html_bytes: int = 95_000
    unsubscribe_url: str = ""  # https template with {token}
    unsubscribe_mailto: str = ""  # mailto address; the subject carries the token


@dataclass(frozen=True)
class DeliveryConfig:
    outbox: Path


@dataclass(frozen=True)
class ServiceConfig:
    # How often ``feedpub serve`` ingests and rebuilds the feeds (cron, in
    # site.timezone); each digest also runs on its own schedule.
    schedule: str = "*/10 * * * *"


@dataclass(frozen=True)
class Config:
    path: Path
    site: SiteConfig
    store: StoreConfig
    sources: tuple[SourceConfig, ...]
    tags: TagsConfig
    ingest: IngestConfig
    feeds: FeedsConfig
    digests: tuple[DigestConfig, ...]
    email: EmailConfig
    delivery: DeliveryConfig
    service: ServiceConfig = ServiceConfig()

    def digest(self, name: str) -> DigestConfig:
        for digest in self.digests:
            if digest.name == name:
                return digest
        known = ", ".join(d.name for d in self.digests) or "none configured"
        raise ConfigError(f"{self.path}: digests: no digest named {name!r} ({known})")


# --- reading -----------------------------------------------------------------

_MISSING: Any = object()
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _line_map(text: str, where: Path) -> dict[str, int]:
    """Key path ("feeds.items", "sources[0].path") -> 1-based line number.
    Raises ConfigError for a key given twice in one mapping: YAML would keep
    the last silently, dropping (say) a whole ``site`` section."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                line = key_node.start_mark.line + 1
                if key_node.tag != "tag:yaml.org,2002:merge" and child in seen:
                    raise ConfigError(
                        f"{where}:{line}: {child}: given twice (first on line {seen[child]})"
                    )
                seen[child] = line
                lines[child] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return lines


class _Section:
    """One mapping of the config being read; remembers which keys it used so
    that unknown keys (usually typos) are reported instead of ignored."""

    def __init__(self, reader: _Reader, data: Any, path: str) -> None:
        self.reader = reader
        self.path = path
        if data is None:
            data = {}
        if not isinstance(data, dict):
            reader.fail(path, f"must be a mapping, got {_kind(data)}")
        self.data: dict[Any, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(
        self,
        name: str,
        kind: type[T],
        default: T | None = _MISSING,
        check: Callable[[T], str | None] | None = None,
    ) -> T:
        self.used.add(name)
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                self.reader.fail(self.key(name), "is required")
            return default  # type: ignore[return-value]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.reader.fail(self.key(name), f"must be {kind.__name__}, got {_kind(value)}")
        if check is not None:
            problem = check(value)
            if problem:
                self.reader.fail(self.key(name), problem)
        checked: T = value
        return checked

    def text(self, name: str, default: str | None = _MISSING, *, nonempty: bool = True) -> str:
        def check(value: str) -> str | None:
            return "must not be empty" if nonempty and not value.strip() else None

        return self.get(name, str, default, check)

    def positive(self, name: str, default: int) -> int:
        return self.get(name, int, default, lambda v: None if v > 0 else "must be > 0")

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        raw = self.get(name, list, list(default))
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                self.reader.fail(f"{self.key(name)}[{index}]", f"must be str, got {_kind(item)}")
        return tuple(raw)

    def path_value(self, name: str, default: str) -> Path:
        raw = Path(self.text(name, default))
        return raw if raw.is_absolute() else self.reader.base / raw

    def section(self, name: str) -> _Section:
        self.used.add(name)
        return _Section(self.reader, self.data.get(name), self.key(name))

    def items(self, name: str) -> list[_Section]:
        self.used.add(name)
        raw = self.data.get(name) or []
        if not isinstance(raw, list):
            self.reader.fail(self.key(name), f"must be a list, got {_kind(raw)}")
        return [_Section(self.reader, item, f"{self.key(name)}[{i}]") for i, item in enumerate(raw)]

    def done(self) -> None:
        unknown = sorted(str(k) for k in self.data if str(k) not in self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.reader.fail(self.key(unknown[0]), f"unknown key (known here: {known})")


class _Reader:
    def __init__(self, path: Path, lines: dict[str, int]) -> None:
        self.path = path
        self.base = path.parent
        self.lines = lines

    def fail(self, key: str, reason: str) -> NoReturn:
        # A missing key has no line of its own: point at its nearest parent.
        probe = key
        while probe not in self.lines and re.search(r"[.\[]", probe):
            probe = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", probe)
        line = self.lines.get(probe)
        where = f"{self.path}:{line}" if line else str(self.path)
        raise ConfigError(f"{where}: {key or 'top level'}: {reason}")


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def parse_duration(text: str) -> timedelta:
    """'24h', '7d', '90m', '2w', '30s' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 24h, 7d, 90m or 2w")
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def _check_url(value: str) -> str | None:
    return None if re.match(r"^https?://[^\s/]+", value) else "must be an http(s) URL"


def _check_store_url(value: str) -> str | None:
    # The two stores feedpub ships drivers for; anything else would only fail
    # later, as "cannot open", with exit status 1 instead of 2.
    if re.match(r"^(sqlite://|postgresql\+psycopg://)", value.strip()):
        return None
    return "must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def _check_timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config: ``path``, else $FEEDPUB_CONFIG, else ./config.yaml."""
    chosen = Path(path or os.environ.get(CONFIG_ENV) or "config.yaml")
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{chosen}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{chosen}: cannot read config: {exc}") from None
    try:
        data = yaml.safe_load(text)
        lines = _line_map(text, chosen.resolve())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{chosen}:{mark.line + 1}" if mark else str(chosen)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    return _build(_Reader(chosen.resolve(), lines), data)


def _build(reader: _Reader, data: Any) -> Config:
    root = _Section(reader, data, "")

    site_s = root.section("site")
    site_url = site_s.get("url", str, check=_check_url)
    tz_name = site_s.get("timezone", str, "Asia/Damascus", _check_timezone)
    site = SiteConfig(
        title=site_s.text("title"),
        url=site_url.rstrip("/"),
        language=site_s.text("language", "ar"),
        timezone=ZoneInfo(tz_name),
        description=site_s.text("description", "", nonempty=False),
    )
    site_s.done()

    store_s = root.section("store")
    file_url = store_s.get("url", str, "sqlite:///var/feedpub.db", _check_store_url)
    store_url = os.environ.get(STORE_URL_ENV) or file_url
    env_problem = _check_store_url(store_url)
    if env_problem:
        raise ConfigError(f"{reader.path}: ${STORE_URL_ENV}: {env_problem}")
    store_s.done()
    store = StoreConfig(url=_resolve_sqlite(store_url, reader.base))

    sources = []
    for item in root.items("sources"):
        sources.append(SourceConfig(path=item.path_value("path", _MISSING)))
        item.done()

    tags_s = root.section("tags")
    vocab_raw = tags_s.get("vocabulary", dict, {})
    vocabulary: dict[str, tuple[str, ...]] = {}
    for name, aliases in vocab_raw.items():
        key = f"tags.vocabulary.{name}"
        if not isinstance(name, str) or not name.strip():
            reader.fail(key, "tag names must be non-empty text")
        if aliases is None:
            aliases = []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            reader.fail(key, "must be a list of aliases (text)")
        vocabulary[name] = tuple(aliases)
    tags_s.done()

    ingest_s = root.section("ingest")
    ingest = IngestConfig(
        chrome_lines=ingest_s.strings("chrome_lines", DEFAULT_CHROME_LINES),
        max_article_bytes=ingest_s.positive("max_article_bytes", 1024 * 1024),
    )
    ingest_s.done()

    feeds_s = root.section("feeds")
    formats = feeds_s.strings("formats", FEED_FORMATS)
    for index, fmt in enumerate(formats):
        if fmt not in FEED_FORMATS:
            reader.fail(f"feeds.formats[{index}]", f"unknown format {fmt!r} (atom, rss, json)")
    feeds = FeedsConfig(
        output=feeds_s.path_value("output", "public"),
        url=feeds_s.get("url", str, site.url, _check_url).rstrip("/"),
        formats=formats,
        items=feeds_s.positive("items", 20),
        min_items=feeds_s.positive("min_items", 1),
        full_content=feeds_s.get("full_content", bool, True),
        websub_hub=feeds_s.get("websub_hub", str, None, _check_url),
        archive=feeds_s.get("archive", bool, False),
        archive_page_size=feeds_s.positive("archive_page_size", 100),
    )
    feeds_s.done()

    def check_cron(value: str) -> str | None:
        try:
            cron.check_cron(value)
        except ValueError as exc:
            return f"not a cron expression: {exc}"
        return None

    digests = []
    seen_names: set[str] = set()
    for item in root.items("digests"):
        name = item.get(
            "name",
            str,
            check=lambda v: (
                None
                if re.fullmatch(r"[a-z0-9][a-z0-9_-]*", v)
                else "must be lower-case letters, digits, '-' or '_' (it names files and URLs)"
            ),
        )
        if name in seen_names:
            reader.fail(item.key("name"), f"digest {name!r} is defined twice")
        seen_names.add(name)

        def check_lookback(value: str) -> str | None:
            try:
                parse_duration(value)
            except ValueError as exc:
                return str(exc)
            return None

        digests.append(
            DigestConfig(
                name=name,
                schedule=item.get("schedule", str, check=check_cron),
                subject=item.text("subject"),
                title=item.text("title", "", nonempty=False),
                from_addr=item.get("from", str, check=_check_address),
                tags=item.strings("tags"),
                max_items=item.positive("max_items", 15),
                only_if_new=item.get("only_if_new", bool, True),
                first_lookback=parse_duration(
                    item.get("first_lookback", str, "24h", check_lookback)
                ),
                reply_to=item.get("reply_to", str, None, _check_address),
            )
        )
        item.done()

    email_s = root.section("email")
    email = EmailConfig(
        postal_address=email_s.text("postal_address", "", nonempty=False),
        locale=email_s.text("locale", "ar_SY"),
        digits=email_s.get(
            "digits",
            str,
            "arab",
            lambda v: None if v in ("arab", "latn") else "must be 'arab' or 'latn'",
        ),
        max_html_bytes=email_s.positive("max_html_bytes", 95_000),
        unsubscribe_url=email_s.get("unsubscribe_url", str, f"{site.url}/unsubscribe/{{token}}"),
        unsubscribe_mailto=email_s.get(
            "unsubscribe_mailto", str, f"unsubscribe@{site.domain}", _check_address
        ),
    )
    if not email.unsubscribe_url.startswith("https://") and not email.unsubscribe_url.startswith(
        "http://"
    ):
        reader.fail("email.unsubscribe_url", "must be an http(s) URL template with {token}")
    email_s.done()

    delivery_s = root.section("delivery")
    delivery = DeliveryConfig(outbox=delivery_s.path_value("outbox", "var/outbox"))
    delivery_s.done()

    service_s = root.section("service")
    service = ServiceConfig(schedule=service_s.get("schedule", str, "*/10 * * * *", check_cron))
    service_s.done()

    root.done()
    return Config(
        path=reader.path,
        site=site,
        store=store,
        sources=tuple(sources),
        tags=TagsConfig(vocabulary=vocabulary),
        ingest=ingest,
        feeds=feeds,
        digests=tuple(digests),
        email=email,
        delivery=delivery,
        service=service,
    )


def _check_address(value: str) -> str | None:
    # Full RFC 5321 checking happens at delivery (email-validator); here we only
    # catch the obvious typo early. "Name <addr>" is allowed.
    address = value.rsplit("<", 1)[-1].rstrip(">").strip()
    return None if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address) else "not an email address"


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith(":"):
            return f"{prefix}{(base / rest).resolve()}"
    return url
