"""``config.yaml`` -> ``Config``: one small builder per section (a dozen
sections; the reading and the checks they share live in ``reader`` and
``checks``).

Every problem is one line, ``file:line: key: reason``, raised as
``ConfigError`` (the CLI exits 2 on it). Relative paths are relative to the
config file. Defaults come from the dataclass fields in ``schema``; every
number has a bound, every text is checked for control characters.

The validator is written by hand rather than pulling in a schema library:
it needs YAML line numbers in every message, which the maintained
validators (pydantic, jsonschema) do not know about.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from feedpub.config import checks, secrets
from feedpub.config import yaml as yamlio
from feedpub.config.reader import MAX_LIST_ITEMS, REQUIRED, Reader, Section, type_name
from feedpub.config.schema import (
    ALERT_LOOKBACK,
    ALERT_SUBJECT,
    CONFIG_ENV,
    DIGEST_KINDS,
    IMAGE_FALLBACK_FIELDS,
    IMAP_SECURITY,
    MAX_CONNECTIONS,
    MIB,
    SMTP_SECURITY,
    STORE_URL_ENV,
    Config,
    ConfigError,
    DeliveryConfig,
    DigestConfig,
    DkimConfig,
    EmailConfig,
    FeedsConfig,
    ImapConfig,
    InboundConfig,
    IngestConfig,
    RelayConfig,
    ServiceConfig,
    SiteConfig,
    SmtpConfig,
    SourceConfig,
    StoreConfig,
    SubscribersConfig,
    TagsConfig,
    WebConfig,
)
from feedpub.credentials import where_to_put

# The config is small and hand-written: anchors are fine, an explosion is not.
_YAML_LIMITS = yamlio.Limits(max_aliases=100, max_alias_nodes=10_000, max_depth=32)
MAX_CONFIG_BYTES = 1 * MIB
_FORMAT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_LOOKBACK = timedelta(days=3653)  # ten years
# Gmail clips a message above 102,000 bytes; below 20,000 even a short
# digest would be cut.
MIN_HTML_BYTES, MAX_HTML_BYTES = 20_000, 102_000
# A claim is taken over after stale_after: shorter than a minute would steal
# the claims of a worker that is merely slow; longer than a day leaves a dead
# worker's recipients waiting past the next edition.
MIN_STALE, MAX_STALE = timedelta(minutes=1), timedelta(days=1)
# Parsing processes at most (``ingest.workers``): beyond the cores, more only cost memory.
MAX_WORKERS = 64
MAX_RATE = 10_000.0  # messages per second
# email.image_width: the content column is 600px less 2 x 24px of padding.
MIN_IMAGE_WIDTH, MAX_IMAGE_WIDTH = 100, 552
# delivery.max_run_seconds: a minute (less would stop before a slow relay
# answered a few) to a day (a run longer than that overlaps the next edition).
MIN_RUN_SECONDS, MAX_RUN_SECONDS = 60, 86_400


# --- reading -------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config: ``path``, else $FEEDPUB_CONFIG, else ./config.yaml."""
    chosen = Path(path or os.environ.get(CONFIG_ENV) or "config.yaml")
    try:
        resolved = chosen.resolve()
        if chosen.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{chosen}: config file is larger than {MAX_CONFIG_BYTES} bytes")
        data = chosen.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{chosen}: config file not found") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"{chosen}: cannot read config: {reason}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{resolved}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        root = yamlio.compose(text, _YAML_LIMITS)
        lines = yamlio.line_map(root)
        loaded = yamlio.construct(root)
    except yamlio.DuplicateKey as exc:
        raise ConfigError(f"{resolved}:{exc.line}: {exc.key}: {exc.problem}") from None
    except yamlio.YamlError as exc:
        where = f"{resolved}:{exc.line}" if exc.line else str(resolved)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem}") from None
    return _build(Reader(resolved, lines), loaded)


def _build(reader: Reader, data: Any) -> Config:
    root = Section(reader, data, "", None)
    site = _site(root.section("site", SiteConfig))
    sources = _sources(root)
    cfg = Config(
        path=reader.path,
        site=site,
        store=_store(root.section("store", StoreConfig)),
        sources=sources,
        tags=_tags(root.section("tags", TagsConfig)),
        ingest=_ingest(root.section("ingest", IngestConfig)),
        feeds=_feeds(root.section("feeds", FeedsConfig), site),
        digests=_digests(root),
        email=_email(root.section("email", EmailConfig), site),
        delivery=_delivery(root.section("delivery", DeliveryConfig)),
        service=_service(root.section("service", ServiceConfig)),
        subscribers=_subscribers(root.section("subscribers", SubscribersConfig), site),
        inbound=_inbound(root.section("inbound", InboundConfig)),
        web=_web(root.section("web", WebConfig)),
    )
    root.done()
    cfg = _signup_sender(cfg)
    _confine_outputs(reader, cfg)
    _check_dkim_alignment(reader, cfg)
    return cfg


def _site(s: Section) -> SiteConfig:
    zone = s.default("timezone")
    tz_name = s.get("timezone", str, zone.key, checks.timezone)
    site = SiteConfig(
        title=s.text("title"),
        url=s.get("url", str, check=checks.url).rstrip("/"),
        language=s.text(
            "language",
            s.default("language"),
            check=lambda v: (
                None
                if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", v)
                else "must be a language tag such as ar or ar-SY"
            ),
        ),
        timezone=zone if tz_name == zone.key else ZoneInfo(tz_name),
        description=s.text("description", s.default("description"), nonempty=False, max_chars=2000),
    )
    s.done()
    return site


def _store(s: Section) -> StoreConfig:
    file_url = s.get("url", str, s.default("url"), checks.store_url)
    # $FEEDPUB_STORE_URL, else the systemd credential feedpub_store_url.
    provided = secrets.secret(secrets.STORE_URL)
    url = provided or file_url
    problem = checks.store_url(url)
    if problem:  # a provided URL may hold a password: never shown
        where = f"${STORE_URL_ENV}" if os.environ.get(STORE_URL_ENV) else secrets.STORE_URL
        raise ConfigError(f"{s.reader.path}: {where}: {problem}")
    keep_runs_days = s.number("keep_runs_days", 1, 36_500)
    s.done()
    return StoreConfig(url=_resolve_sqlite(url, s.reader.base), keep_runs_days=keep_runs_days)


def _sources(root: Section) -> tuple[SourceConfig, ...]:
    """Each entry's first key is its kind and holds its location; the other
    keys are the kind's options, checked by its source factory when ingest
    starts. A ``path`` is resolved against the config file here."""
    sources = []
    for item in root.items("sources", SourceConfig):
        if not item.data:
            item.reader.fail(item.path, "must name a source, e.g. path: samples/pages")
        kind = str(next(iter(item.data)))
        if kind == "path":
            location = str(item.path_value("path"))
        else:
            location = item.text(kind, max_chars=4096)
        options = {str(k): v for k, v in item.data.items() if str(k) != kind}
        line = item.reader.lines.get(item.path)
        where = (
            f"{item.reader.path}:{line}: {item.path}"
            if line
            else f"{item.reader.path}: {item.path}"
        )
        sources.append(SourceConfig(kind, location, options, where))
    return tuple(sources)


def _tags(s: Section) -> TagsConfig:
    raw = s.get("vocabulary", dict, s.default("vocabulary"))
    if len(raw) > MAX_LIST_ITEMS:
        s.reader.fail(s.key("vocabulary"), f"must have at most {MAX_LIST_ITEMS} tags")
    vocabulary: dict[str, tuple[str, ...]] = {}
    for name, aliases in raw.items():
        key = f"{s.key('vocabulary')}.{name}"
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            s.reader.fail(key, "tag names must be non-empty text of at most 255 characters")
        aliases = [] if aliases is None else aliases
        if not isinstance(aliases, list) or not all(
            isinstance(a, str) and len(a) <= 255 for a in aliases
        ):
            s.reader.fail(key, "must be a list of aliases (text of at most 255 characters)")
        problem = checks.controls(name) or next(filter(None, map(checks.controls, aliases)), None)
        if problem:
            s.reader.fail(key, problem)
        vocabulary[name] = tuple(aliases)
    s.done()
    return TagsConfig(vocabulary=vocabulary)


def _ingest(s: Section) -> IngestConfig:
    ingest = IngestConfig(
        chrome_lines=s.strings("chrome_lines"),
        max_article_bytes=s.number("max_article_bytes", 100, 256 * MIB),
        max_file_bytes=s.number("max_file_bytes", 1024, 4096 * MIB),
        max_depth=s.number("max_depth", 3, 100),
        max_tags=s.number("max_tags", 1, 1000),
        max_title_chars=s.number("max_title_chars", 20, 10_000),
        max_summary_chars=s.number("max_summary_chars", 20, 100_000),
        workers=_workers(s),
    )
    s.done()
    return ingest


def _workers(s: Section) -> int | Literal["auto"]:
    raw = s.get("workers", object, s.default("workers"))
    if raw == "auto":
        return "auto"
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= MAX_WORKERS:
        return raw
    got = raw if isinstance(raw, int) and not isinstance(raw, bool) else type_name(raw)
    s.reader.fail(s.key("workers"), f"must be auto or a number from 1 to {MAX_WORKERS}, got {got}")


def _feeds(s: Section, site: SiteConfig) -> FeedsConfig:
    # The shape only: the known formats are the feeds' registry, a layer up
    # (feeds.writers.check_formats, called by the composition root).
    formats = s.strings("formats")
    for index, fmt in enumerate(formats):
        if not _FORMAT_NAME.fullmatch(fmt):
            s.reader.fail(
                f"{s.key('formats')}[{index}]",
                f"{fmt!r} is not a format name (lower-case letters, digits, - and _)",
            )
    feeds = FeedsConfig(
        output=s.path_value("output"),
        url=s.get("url", str, s.default("url") or site.url, checks.url).rstrip("/"),
        formats=formats,
        items=s.number("items", 1, 1000),
        min_items=s.number("min_items", 1, 1000),
        full_content=s.get("full_content", bool, s.default("full_content")),
        websub_hub=s.get("websub_hub", str, s.default("websub_hub"), checks.url),
        archive=s.get("archive", bool, s.default("archive")),
        archive_page_size=s.number("archive_page_size", 1, 10_000),
        tag_page_url=s.get("tag_page_url", str, s.default("tag_page_url"), _check_tag_page_url),
        subscribe_url=s.get("subscribe_url", str, s.default("subscribe_url"), checks.url),
        image_in_content=s.get("image_in_content", bool, s.default("image_in_content")),
    )
    s.done()
    return feeds


def _check_tag_page_url(value: str) -> str | None:
    if value == "":
        return None  # feedpub writes the topic pages
    rest = value.replace("{slug}", "", 1)
    if value.count("{slug}") != 1 or "{" in rest or "}" in rest:
        return "must hold {slug} once and no other {…} (e.g. https://news.example.org/tag/{slug}/)"
    return checks.url(value.replace("{slug}", "slug"))


def _digests(root: Section) -> tuple[DigestConfig, ...]:
    digests: list[DigestConfig] = []
    for item in root.items("digests", DigestConfig):
        digest = _digest(item)
        if any(d.name == digest.name for d in digests):
            item.reader.fail(item.key("name"), f"digest {digest.name!r} is defined twice")
        digests.append(digest)
        item.done()
    return tuple(digests)


def _check_name(value: str) -> str | None:
    if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", value):
        return None
    return "must be lower-case letters, digits, '-' or '_' (it names files and URLs)"


def _check_lookback(value: str) -> str | None:
    try:
        lookback = checks.parse_duration(value)
    except ValueError as exc:
        return str(exc)
    return None if lookback <= MAX_LOOKBACK else "must be at most ten years (3653d)"


def _digest(s: Section) -> DigestConfig:
    kind = s.get("kind", str, s.default("kind"), _check_kind)
    if kind == "alert":
        return _alert(s)
    if "max_per_day" in s.data:
        s.reader.fail(s.key("max_per_day"), "is only for kind: alert (a digest has max_items)")
    lookback = s.default("first_lookback")
    raw_lookback = s.get("first_lookback", str, None, _check_lookback)
    return DigestConfig(
        name=s.get("name", str, check=_check_name),
        schedule=s.get("schedule", str, check=checks.cron_expression),
        subject=s.text("subject", max_chars=500, check=checks.subject),
        title=s.text("title", s.default("title"), nonempty=False),
        from_addr=s.get("from", str, check=checks.address),
        tags=s.strings("tags", max_chars=255),
        max_items=s.number("max_items", 1, 1000),
        only_if_new=s.get("only_if_new", bool, s.default("only_if_new")),
        first_lookback=lookback if raw_lookback is None else checks.parse_duration(raw_lookback),
        reply_to=s.get("reply_to", str, s.default("reply_to"), checks.address),
    )


def _check_kind(value: str) -> str | None:
    return None if value in DIGEST_KINDS else f"must be one of: {', '.join(DIGEST_KINDS)}"


# The keys a digest has and an alert must not: why, in the error.
_NOT_FOR_ALERTS = {
    "schedule": "an alert has no schedule: it runs with every ingest (feedpub run, and "
    "feedpub serve after each ingest); remove the key",
    "max_items": "an alert holds one article; the daily cap is max_per_day",
}


def _alert(s: Section) -> DigestConfig:
    """A ``kind: alert`` entry: one message per new article in ``tags``."""
    for key, why in _NOT_FOR_ALERTS.items():
        if key in s.data:
            s.reader.fail(s.key(key), f"not allowed with kind: alert ({why})")
    if s.get("only_if_new", bool, True) is False:
        s.reader.fail(s.key("only_if_new"), "an alert is only ever sent for a new article")
    tags = s.strings("tags", max_chars=255)
    if not tags:
        s.reader.fail(s.key("tags"), "is required with kind: alert (e.g. tags: [عاجل])")
    raw_lookback = s.get("first_lookback", str, None, _check_lookback)
    return DigestConfig(
        name=s.get("name", str, check=_check_name),
        schedule="",
        subject=s.text("subject", ALERT_SUBJECT, max_chars=500, check=checks.alert_subject),
        title=s.text("title", s.default("title"), nonempty=False),
        from_addr=s.get("from", str, check=checks.address),
        tags=tags,
        max_items=1,
        first_lookback=ALERT_LOOKBACK
        if raw_lookback is None
        else checks.parse_duration(raw_lookback),
        reply_to=s.get("reply_to", str, s.default("reply_to"), checks.address),
        kind="alert",
        max_per_day=s.number("max_per_day", 1, 1000),
    )


def _check_unsubscribe_url(value: str) -> str | None:
    # The list is part of the link: a token is signed for one digest, and the
    # web app's route is /unsubscribe/<list>/<token>.
    filled = value.replace("{token}", "t").replace("{list}", "l")
    if checks.url(filled) or "{token}" not in value or "{list}" not in value:
        return "must be an http(s) URL template with {list} and {token}"
    return None


def _check_preferences_url(value: str) -> str | None:
    if checks.url(value.replace("{token}", "t")) or "{token}" not in value:
        return "must be an http(s) URL template with {token}"
    return None


def _email(s: Section, site: SiteConfig) -> EmailConfig:
    email = EmailConfig(
        postal_address=s.text(
            "postal_address", s.default("postal_address"), nonempty=False, max_chars=500
        ),
        locale=s.get("locale", str, s.default("locale"), checks.locale),
        digits=s.get(
            "digits",
            str,
            s.default("digits"),
            lambda v: None if v in ("arab", "latn") else "must be 'arab' or 'latn'",
        ),
        max_html_bytes=s.number("max_html_bytes", MIN_HTML_BYTES, MAX_HTML_BYTES),
        unsubscribe_url=s.get(
            "unsubscribe_url",
            str,
            s.default("unsubscribe_url") or f"{site.url}/unsubscribe/{{list}}/{{token}}",
            _check_unsubscribe_url,
        ),
        preferences_url=s.get(
            "preferences_url",
            str,
            s.default("preferences_url") or f"{site.url}/preferences/{{token}}",
            _check_preferences_url,
        ),
        unsubscribe_mailto=s.get(
            "unsubscribe_mailto",
            str,
            s.default("unsubscribe_mailto") or f"unsubscribe@{site.domain}",
            checks.address,
        ),
        image_width=s.number("image_width", MIN_IMAGE_WIDTH, MAX_IMAGE_WIDTH),
        hijri=s.get("hijri", bool, s.default("hijri")),
        hijri_adjust=s.number("hijri_adjust", -1, 1),
        month_names=s.get(
            "month_names",
            str,
            s.default("month_names"),
            lambda v: None if v in ("locale", "both") else "must be 'locale' or 'both'",
        ),
        image_fallback=s.get(
            "image_fallback", str, s.default("image_fallback"), _check_image_fallback
        ),
    )
    s.done()
    return email


def _check_image_fallback(value: str) -> str | None:
    if not value:
        return None
    filled = value
    for field in IMAGE_FALLBACK_FIELDS:
        filled = filled.replace(field, "x")
    if checks.url(filled) or filled == value:
        fields = ", ".join(IMAGE_FALLBACK_FIELDS)
        return f"must be an http(s) URL pattern with at least one of {fields}, or empty"
    return None


def _check_stale(value: str) -> str | None:
    try:
        stale = checks.parse_duration(value)
    except ValueError as exc:
        return str(exc)
    return None if MIN_STALE <= stale <= MAX_STALE else "must be between 1m and 1d"


def _rate(s: Section) -> float | None:
    s.used.add("rate")
    value = s.data.get("rate")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        s.reader.fail(s.key("rate"), "must be a number of messages per second")
    if not 0 < value <= MAX_RATE:
        s.reader.fail(s.key("rate"), f"must be more than 0 and at most {MAX_RATE:g}")
    return float(value)


def _delivery(s: Section) -> DeliveryConfig:
    # Which names exist is the backend registry's (``delivery.backends``),
    # checked by the composition root before a run that delivers.
    backend = s.text("backend", s.default("backend"), max_chars=40)
    stale = s.get("stale_after", str, None, _check_stale)
    delivery = DeliveryConfig(
        outbox=s.path_value("outbox"),
        backend=backend,
        smtp=_smtp(s.section("smtp", SmtpConfig), required=backend == "smtp"),
        rate=_rate(s),
        batch=s.number("batch", 1, 10_000),
        stale_after=s.default("stale_after") if stale is None else checks.parse_duration(stale),
        return_path=s.get("return_path", str, s.default("return_path"), _check_return_path),
        pause_hard_bounce_rate=_share(s, "pause_hard_bounce_rate"),
        pause_complaint_rate=_share(s, "pause_complaint_rate"),
        pause_min_deliveries=s.number("pause_min_deliveries", 1, 10_000_000),
        dkim=_dkim(s),
        max_run_seconds=s.number("max_run_seconds", MIN_RUN_SECONDS, MAX_RUN_SECONDS),
    )
    if delivery.rate is not None and delivery.batch / delivery.rate > (
        delivery.stale_after.total_seconds() / 2
    ):
        # Claims are renewed before each message; a batch this slow would
        # still keep its last rows waiting past their lease.
        s.reader.fail(
            s.key("batch"),
            f"{delivery.batch} messages at {delivery.rate:g}/s take longer than half "
            "of stale_after: lower batch or raise stale_after",
        )
    if backend == "smtp" and delivery.smtp.timeout * 2 >= delivery.stale_after.total_seconds():
        # A claim must outlast a message's deadline, with room for clocks
        # that disagree: the lease is renewed at half its life.
        s.reader.fail(
            s.key("stale_after"),
            f"must be more than twice delivery.smtp.timeout ({delivery.smtp.timeout}s)",
        )
    s.done()
    return delivery


def _check_return_path(value: str) -> str | None:
    problem = checks.address(value)
    if problem:
        return problem
    local = value.rpartition("@")[0]
    if "+" in local or "<" in value or " " in value.strip():
        return "must be a bare address whose local part has no '+' (it gets +<token>)"
    # RFC 5321: 64 octets for the local part, 27 of them for "+" and the token.
    if len(local.encode()) > 37:
        return "its local part must be at most 37 characters (it gets +<26-character token>)"
    return None


def _share(s: Section, name: str) -> float:
    """A share of deliveries: "5%" or 0.05."""
    s.used.add(name)
    value = s.data.get(name)
    if value is None:
        return float(s.default(name))
    share: float | None = None
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            share = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        share = float(value)
    if share is None or not 0 < share < 1:
        s.reader.fail(s.key(name), f"must be a share such as 5% or 0.05, got {value!r}")
    return share


_DNS_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"


def _check_selector(value: str) -> str | None:
    # <selector>._domainkey.<domain> is looked up in DNS: labels only.
    if re.fullmatch(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", value) and len(value) <= 63:
        return None
    return "must be a DNS label such as feedpub2026 (letters, digits, '-')"


def _check_dkim_domain(value: str) -> str | None:
    if re.fullmatch(rf"{_DNS_LABEL}(\.{_DNS_LABEL})+", value) and len(value) <= 253:
        return None
    return "must be a domain name such as news.example.org (ASCII; IDNA for others)"


def _dkim(parent: Section) -> DkimConfig | None:
    """``delivery.dkim``: selector and domain; the key never in the file."""
    if parent.data.get("dkim") is None:
        parent.used.add("dkim")
        return None
    s = parent.section("dkim", DkimConfig)
    for secret_key in ("key", "private_key", "privkey"):
        if secret_key in s.data:
            s.reader.fail(
                s.key(secret_key),
                f"secrets never go in the file: set {where_to_put(secrets.DKIM_KEY)} "
                "to the PEM private key",
            )
    dkim = DkimConfig(
        selector=s.get("selector", str, check=_check_selector),
        domain=s.get("domain", str, check=_check_dkim_domain).lower().rstrip("."),
    )
    s.done()
    return dkim


def _check_dkim_alignment(reader: Reader, cfg: Config) -> None:
    """DMARC passes on DKIM only when d= is the From domain or a parent of
    it: a signature for another domain would be valid and still useless."""
    dkim = cfg.delivery.dkim
    if dkim is None:
        return
    for index, digest in enumerate(cfg.digests):
        domain = digest.from_addr.rsplit("@", 1)[-1].rstrip(">").strip().lower()
        if domain != dkim.domain and not domain.endswith("." + dkim.domain):
            reader.fail(
                "delivery.dkim.domain",
                f"{dkim.domain} is not the domain of digests[{index}].from ({domain}) "
                "nor a parent of it: receivers would not count the signature for DMARC",
            )


def _check_host(value: str) -> str | None:
    if not value.strip() or len(value) > 253:
        return "must be a host name or address"
    return checks.controls(value) or (None if " " not in value else "must not contain spaces")


def _smtp(s: Section, *, required: bool) -> SmtpConfig:
    listed = bool(s.data.get("relays"))
    if listed and s.data.get("host") is not None:
        s.reader.fail(s.key("relays"), "give either host (one relay) or relays, not both")
    port = s.number("port", 1, 65535)
    connections = s.number("connections", 1, MAX_CONNECTIONS)
    host_default = REQUIRED if required and not listed else s.default("host")
    smtp = SmtpConfig(
        host=s.get("host", str, host_default, _check_host),
        port=port,
        connections=connections,
        relays=tuple(_relay(item, port, connections) for item in s.items("relays", RelayConfig)),
        security=s.get(
            "security",
            str,
            s.default("security"),
            lambda v: None if v in SMTP_SECURITY else "must be none, starttls or tls",
        ),
        username=s.get(
            "username",
            str,
            s.default("username"),
            lambda v: (
                checks.controls(v) or (None if v and len(v) <= 320 else "must be 1-320 chars")
            ),
        ),
        timeout=s.number("timeout", 1, 600),
    )
    if "password" in s.data:
        s.reader.fail(
            s.key("password"),
            "secrets never go in the file: set $FEEDPUB_SMTP_PASSWORD or the systemd "
            "credential feedpub_smtp_password",
        )
    s.done()
    return smtp


def _relay(s: Section, port: int, connections: int) -> RelayConfig:
    def bounded(low: int, high: int) -> Callable[[int], str | None]:
        return lambda v: None if low <= v <= high else f"must be between {low} and {high}"

    relay = RelayConfig(
        host=s.get("host", str, REQUIRED, _check_host),
        port=s.get("port", int, port, bounded(1, 65535)),
        connections=s.get("connections", int, connections, bounded(1, MAX_CONNECTIONS)),
        rate=_rate(s),
    )
    s.done()
    return relay


def _subscribers(s: Section, site: SiteConfig) -> SubscribersConfig:
    seed = s.path_value("seed") if s.data.get("seed") is not None else None
    s.used.add("seed")
    subscribers = SubscribersConfig(
        seed=seed,
        confirm_expiry=_duration(s, "confirm_expiry", timedelta(minutes=10), timedelta(days=30)),
        confirm_per_hour=s.number("confirm_per_hour", 1, 100),
        pending_expiry=_duration(s, "pending_expiry", timedelta(hours=1), timedelta(days=365)),
        from_addr=s.get("from", str, "", checks.address),
        confirm_url=s.get(
            "confirm_url",
            str,
            s.default("confirm_url") or f"{site.url}/confirm/{{token}}",
            _check_preferences_url,
        ),
    )
    s.done()
    return subscribers


def _duration(s: Section, name: str, low: timedelta, high: timedelta) -> timedelta:
    def check(value: str) -> str | None:
        try:
            found = checks.parse_duration(value)
        except ValueError as exc:
            return str(exc)
        return None if low <= found <= high else f"must be between {low} and {high}"

    raw = s.get(name, str, None, check)
    fallback: timedelta = s.default(name)
    return fallback if raw is None else checks.parse_duration(raw)


def _signup_sender(cfg: Config) -> Config:
    """``subscribers.from`` left out: the first digest's From."""
    if cfg.subscribers.from_addr:
        return cfg
    sender = cfg.digests[0].from_addr if cfg.digests else f"noreply@{cfg.site.domain}"
    return replace(cfg, subscribers=replace(cfg.subscribers, from_addr=sender))


def _web(s: Section) -> WebConfig:
    web = WebConfig(
        connection_limit=s.number("connection_limit", 16, 100_000),
        idle_timeout=s.number("idle_timeout", 1, 3600),
        backlog=s.number("backlog", 8, 65535),
        threads=s.number("threads", 1, 64),
        signups_per_client_per_hour=s.number("signups_per_client_per_hour", 1, 100_000),
        trusted_proxies=s.strings("trusted_proxies", max_chars=64),
    )
    for index, proxy in enumerate(web.trusted_proxies):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            s.reader.fail(
                f"{s.key('trusted_proxies')}[{index}]", "must be an IP address or network"
            )
    s.done()
    return web


def _inbound(s: Section) -> InboundConfig:
    maildir = s.path_value("maildir") if s.data.get("maildir") is not None else None
    s.used.add("maildir")
    imap = _imap(s.section("imap", ImapConfig)) if s.data.get("imap") is not None else None
    s.used.add("imap")
    if maildir is not None and imap is not None:
        s.reader.fail(s.key("imap"), "give either maildir or imap, not both")
    inbound = InboundConfig(
        maildir=maildir,
        imap=imap,
        soft_bounce_limit=s.number("soft_bounce_limit", 1, 100),
        soft_bounce_days=s.number("soft_bounce_days", 1, 365),
    )
    s.done()
    return inbound


def _check_folder(value: str) -> str | None:
    # IMAP folder names beyond printable ASCII need modified UTF-7 (RFC 3501 5.1.3).
    if not value or len(value) > 200 or not all(" " <= c <= "~" for c in value):
        return "must be 1-200 printable ASCII characters"
    return None


def _imap(s: Section) -> ImapConfig:
    imap = ImapConfig(
        host=s.get("host", str, REQUIRED, _check_host),
        port=s.number("port", 1, 65535),
        security=s.get(
            "security",
            str,
            s.default("security"),
            lambda v: None if v in IMAP_SECURITY else "must be tls, starttls or none",
        ),
        username=s.get(
            "username",
            str,
            REQUIRED,
            lambda v: (
                checks.controls(v) or (None if v and len(v) <= 320 else "must be 1-320 chars")
            ),
        ),
        folder=s.get("folder", str, s.default("folder"), _check_folder),
        processed_folder=s.get(
            "processed_folder", str, s.default("processed_folder"), _check_folder
        ),
        timeout=s.number("timeout", 1, 600),
    )
    if imap.folder == imap.processed_folder:
        s.reader.fail(s.key("processed_folder"), "must differ from folder")
    if "password" in s.data:
        s.reader.fail(
            s.key("password"),
            "secrets never go in the file: set $FEEDPUB_IMAP_PASSWORD or the systemd "
            "credential feedpub_imap_password",
        )
    s.done()
    return imap


def _service(s: Section) -> ServiceConfig:
    service = ServiceConfig(
        schedule=s.get("schedule", str, s.default("schedule"), checks.cron_expression),
        failover_seconds=s.number("failover_seconds", 3, 3600),
    )
    s.done()
    return service


def _confine_outputs(reader: Reader, cfg: Config) -> None:
    """The two folders feedpub writes into (and may empty) must be folders of
    their own: a typo must not make a build overwrite the sources, the config
    or the whole disk."""
    folder = reader.base
    try:
        outputs = {
            "feeds.output": cfg.feeds.output.resolve(),
            "delivery.outbox": cfg.delivery.outbox.resolve(),
        }
        sources = [source.path.resolve() for source in cfg.sources if source.kind == "path"]
    except (OSError, RuntimeError) as exc:  # a symlink loop
        reader.fail("feeds.output", f"cannot resolve the output folders: {exc}")
    for key, out in outputs.items():
        if out == Path(out.anchor):
            reader.fail(key, "must not be the root folder")
        if out == folder or out in folder.parents:
            reader.fail(key, f"must not be the config file's folder or above it ({folder})")
        if out.exists() and not out.is_dir():
            reader.fail(key, f"{out} exists and is not a folder")
        for source in sources:
            if out == source or source in out.parents:
                reader.fail(key, f"must not be inside the source {source}")
            if out in source.parents:
                reader.fail(key, f"must not contain the source {source}")
    feeds, outbox = outputs["feeds.output"], outputs["delivery.outbox"]
    if feeds == outbox or feeds in outbox.parents or outbox in feeds.parents:
        reader.fail("delivery.outbox", "feeds.output and delivery.outbox must not overlap")


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and not rest.startswith(":"):
            return f"{prefix}{(base / rest).resolve()}"
    return url
