"""The validated config: frozen values, one class per section.

Every default lives here, once, in its field; the loader (``load.py``) reads
the defaults from these classes instead of repeating them. A default of ""
(or None) where the loader derives a value from another section (``feeds.url``
from ``site.url``) is documented on the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

CONFIG_ENV = "FEEDPUB_CONFIG"
STORE_URL_ENV = "FEEDPUB_STORE_URL"

# The default of feeds.formats. The formats that exist are the feeds' registry
# (feeds/writers.py), a layer above config: the loader checks names' shape only.
FEED_FORMATS = ("atom", "rss", "json")
# The fields of email.image_fallback (digests.images.fallback_url fills them).
IMAGE_FALLBACK_FIELDS = ("{url}", "{path}", "{host}")

MIB = 1024 * 1024
# The site's zone unless site.timezone says otherwise.
DEFAULT_TIMEZONE: tzinfo = ZoneInfo("Asia/Damascus")


class ConfigError(Exception):
    """A config problem, already phrased for the operator."""


@dataclass(frozen=True)
class SiteConfig:
    title: str
    url: str
    language: str = "ar"
    timezone: tzinfo = DEFAULT_TIMEZONE
    description: str = ""

    @property
    def domain(self) -> str:
        return re.sub(r"^[a-z]+://", "", self.url).split("/")[0].split(":")[0]


@dataclass(frozen=True)
class StoreConfig:
    # Relative SQLite paths are relative to the config file.
    url: str = "sqlite:///var/feedpub.db"
    # Job runs (``feedpub status``) older than this are deleted as each run
    # is recorded; the latest run of each job is always kept.
    keep_runs_days: int = 90


@dataclass(frozen=True)
class SourceConfig:
    """One entry of ``sources:``: ``- <kind>: <location>`` and the kind's own
    options, which its source factory checks (``ingest.source``)."""

    kind: str  # the entry's first key: path, wordpress, sitemap, ...
    location: str  # a path (absolute, resolved against the config file) or a URL
    options: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""  # "config.yaml:12: sources[1]", for the factory's errors

    @property
    def path(self) -> Path:
        """The location as a path (the ``path`` kind)."""
        return Path(self.location)

    @classmethod
    def folder(cls, path: Path) -> SourceConfig:
        """A ``path:`` entry."""
        return cls("path", str(path), {}, f"sources: path {path}")


@dataclass(frozen=True)
class IngestConfig:
    # Lines of site chrome ADDED to ingest's built-in list (ingest.pages).
    chrome_lines: tuple[str, ...] = ()
    max_article_bytes: int = MIB
    # Checked with stat() before reading; larger files are one reject.
    max_file_bytes: int = 64 * MIB
    # Lists and objects inside a record, nested deeper than this: a reject.
    max_depth: int = 20
    # Tags beyond this many are dropped (the first ones kept) with a note.
    max_tags: int = 50
    # Longer titles and summaries are shortened at a word, with an ellipsis.
    max_title_chars: int = 300
    max_summary_chars: int = 1000
    # Processes that parse pages (``app.ingesting``): "auto" is
    # min(os.cpu_count(), 4); 1 parses in the ingest process itself. Not part
    # of what a file reads as (``ingest.settings`` leaves it out).
    workers: int | Literal["auto"] = "auto"


@dataclass(frozen=True)
class TagsConfig:
    # tag display name -> aliases (the name itself always matches too)
    vocabulary: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedsConfig:
    output: Path = Path("public")
    url: str = ""  # "" at load means site.url
    formats: tuple[str, ...] = FEED_FORMATS
    items: int = 20
    min_items: int = 1
    full_content: bool = True
    websub_hub: str | None = None
    archive: bool = False
    archive_page_size: int = 100
    # "": feedpub writes each tag's page (tag/<slug>/index.html) and the tag's
    # feeds link there; an http(s) template with {slug}: the site's own pages.
    tag_page_url: str = ""
    # The sign-up page index.html and the topic pages link to; "": the web
    # app's, site.url/subscribe.
    subscribe_url: str = ""
    # The article's image at the top of each entry's HTML too (readers that
    # take the first <img> as the thumbnail), besides media:content.
    image_in_content: bool = True


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
    # "digest": an edition on each ``schedule`` slot; "alert": one message per
    # new article in ``tags``, made right after each ingest (no schedule).
    kind: str = "digest"
    # Alerts a day at most (the site's local day); the rest wait for the
    # regular digests. Only for kind alert.
    max_per_day: int = 5

    @property
    def is_alert(self) -> bool:
        return self.kind == "alert"


# The digest kinds (``digests[].kind``).
DIGEST_KINDS = ("digest", "alert")
# An alert's defaults where a digest's do not fit: a subject from the article's
# title, and a short reach (an article first seen, or published, longer ago is
# not breaking news: a new source's back catalogue never alerts).
ALERT_SUBJECT = "عاجل: {{ title }}"
ALERT_LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True)
class EmailConfig:
    postal_address: str = ""
    locale: str = "ar_SY"
    digits: str = "arab"  # "arab" (٠١٢) or "latn" (012)
    max_html_bytes: int = 95_000
    # https template with {list} (the digest) and {token}, the web app's
    # /unsubscribe/<list>/<token> route; "" at load: site.url/unsubscribe/{list}/{token}
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""  # the subject carries the token; "" at load: unsubscribe@domain
    # https template with {token}; "" at load: site.url/preferences/{token}
    preferences_url: str = ""
    # Images in the email: at most this wide (the 600px column less its
    # padding); an image of a type mail clients do not show (WebP, AVIF) is
    # replaced by this URL pattern ({url}, {path}, {host}), "": left out.
    image_width: int = 552
    image_fallback: str = ""
    # Dates: the Umm al-Qura Hijri date beside the Gregorian one (digests, the
    # web archive and article pages), moved by hijri_adjust days (-1, 0, +1) when announced
    # months differ from the calculation; month names as the locale has them
    # or "both" («كانون الأول/ديسمبر»).
    hijri: bool = False
    hijri_adjust: int = 0
    month_names: str = "locale"  # locale | both


SMTP_SECURITY = ("none", "starttls", "tls")
# The SMTP password is never in the file: config.secrets.SMTP_PASSWORD names it.


MAX_CONNECTIONS = 100  # per relay


@dataclass(frozen=True)
class RelayConfig:
    """One relay of ``delivery.smtp.relays`` (port and connections default
    to the section's own)."""

    host: str
    port: int = 587
    connections: int = 16
    rate: float | None = None  # messages per second at most to this relay; None: no limit


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""  # required when delivery.backend is smtp (unless relays are listed)
    port: int = 587
    security: str = "starttls"  # none | starttls (port 587) | tls (port 465)
    username: str | None = None  # the password comes from the environment
    # Seconds one message may take, every attempt included: after it the
    # message is deferred and that connection stops (a relay that never answers).
    timeout: int = 30
    # Connections to the relay at once, each sending its own claimed messages
    # (1 to MAX_CONNECTIONS); a relay that takes fewer is used with those.
    connections: int = 16
    # Several relays, each with its own connections and rate, instead of
    # host/port above (security, username and timeout are shared).
    relays: tuple[RelayConfig, ...] = ()

    def relay_list(self) -> tuple[RelayConfig, ...]:
        """Every relay: the listed ones, else the one of host and port."""
        return self.relays or (RelayConfig(self.host, self.port, self.connections),)


@dataclass(frozen=True)
class DkimConfig:
    """DKIM signing of every message (``delivery.dkim``); the private key
    is never in the file: config.secrets.DKIM_KEY names it."""

    selector: str  # the DNS record is <selector>._domainkey.<domain>
    domain: str  # the d= domain: From's domain or a parent of it (alignment)


@dataclass(frozen=True)
class DeliveryConfig:
    outbox: Path = Path("var/outbox")
    backend: str = "outbox"  # a name in delivery.backends.BACKENDS: outbox | smtp
    smtp: SmtpConfig = SmtpConfig()
    # Messages per second at most, over every relay and connection of the
    # process (one token bucket); None: no limit.
    rate: float | None = None
    batch: int = 100  # deliveries claimed at a time (per connection)
    # A claim not renewed for this long belongs to a worker that died: another
    # run takes it over (and may send its one message in flight twice). The
    # sender renews its claims as it goes; must be over twice smtp.timeout.
    stale_after: timedelta = timedelta(minutes=15)
    # A delivery run sends for at most this many seconds; the rest is
    # released for a later run, and the run says so and exits 1.
    max_run_seconds: int = 3600
    # The envelope sender's base (bounces@news.example.org): each message goes
    # out as bounces+<signed delivery id>@..., so reports name their delivery
    # (VERP). None: the envelope sender is the digest's From, as before.
    return_path: str | None = None
    # An edition whose hard bounces or complaints pass these shares of its
    # deliveries pauses its digest (Amazon SES reviews senders at 5% bounces;
    # Gmail and Yahoo hold bulk senders under 0.3% complaints).
    pause_hard_bounce_rate: float = 0.05
    pause_complaint_rate: float = 0.003
    # The rates judge an edition once this many of its deliveries were sent:
    # one complaint among ten readers is not a reputation problem.
    pause_min_deliveries: int = 100
    dkim: DkimConfig | None = None  # None: messages go unsigned (a relay may sign them)


IMAP_SECURITY = ("tls", "starttls", "none")
# The IMAP password is never in the file: config.secrets.IMAP_PASSWORD names it.


@dataclass(frozen=True)
class ImapConfig:
    host: str = ""  # required
    port: int = 993
    security: str = "tls"  # tls (port 993) | starttls (port 143) | none (loopback only)
    username: str = ""  # required; the password comes from the environment
    folder: str = "INBOX"
    processed_folder: str = "processed"  # where handled mail is moved (created if missing)
    timeout: int = 30  # seconds per socket operation


@dataclass(frozen=True)
class InboundConfig:
    """The mailbox the bounce and unsubscribe addresses deliver to: a Maildir
    on this machine, or an IMAP folder; neither (the default) reads nothing."""

    maildir: Path | None = None
    imap: ImapConfig | None = None
    # Soft bounces (4.x.x failures) mark an address bounced at the limit-th
    # within the window (days).
    soft_bounce_limit: int = 3
    soft_bounce_days: int = 15

    @property
    def enabled(self) -> bool:
        return self.maildir is not None or self.imap is not None


@dataclass(frozen=True)
class SubscribersConfig:
    # A CSV (email[,name,digests,tags]) imported at every run: addresses not
    # yet stored are added as active; stored ones are never touched.
    seed: Path | None = None
    # Sign-ups from the web form: the confirmation link expires after
    # confirm_expiry; one address gets at most confirm_per_hour sign-up mails
    # an hour; sign-ups never confirmed are removed after pending_expiry.
    confirm_expiry: timedelta = timedelta(hours=48)
    confirm_per_hour: int = 1
    pending_expiry: timedelta = timedelta(days=7)
    # The sender of the sign-up mails; "" at load: the first digest's from
    # (else noreply@site.domain).
    from_addr: str = ""
    # https template with {token}; "" at load: site.url/confirm/{token}
    confirm_url: str = ""


@dataclass(frozen=True)
class ServiceConfig:
    # How often ``feedpub serve`` ingests and rebuilds the feeds (cron, in
    # site.timezone); each digest also runs on its own schedule.
    schedule: str = "*/10 * * * *"
    # Several ``serve`` on one PostgreSQL store: a standby takes over within
    # this many seconds after the leader dies or loses its connection.
    failover_seconds: int = 30


@dataclass(frozen=True)
class WebConfig:
    """The web app's HTTP server inside ``feedpub serve`` (``web.server``)."""

    # Open client connections at most; more wait in the listen backlog. Each
    # is one file descriptor: serve raises its soft RLIMIT_NOFILE to fit.
    connection_limit: int = 4000
    # Seconds a connection may stay silent (idle keep-alive, a client that
    # sends its request slowly) before it is closed.
    idle_timeout: int = 30
    backlog: int = 1024  # the listen queue (the kernel caps it at net.core.somaxconn)
    # Requests answered at once (a request is read whole before). 16, not 4:
    # with 4, p99 at 50 connections was several times the target (bench/RESULTS.md).
    threads: int = 16
    # Sign-ups one client (IP address) may make per hour; more answer 429.
    signups_per_client_per_hour: int = 10
    # Proxies (addresses or networks) whose X-Forwarded-For names the client;
    # from anyone else the header is ignored and the peer is the client.
    trusted_proxies: tuple[str, ...] = ()


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
    subscribers: SubscribersConfig = SubscribersConfig()
    inbound: InboundConfig = InboundConfig()
    web: WebConfig = WebConfig()

    def digest(self, name: str) -> DigestConfig:
        for digest in self.digests:
            if digest.name == name:
                return digest
        known = ", ".join(d.name for d in self.digests) or "none configured"
        raise ConfigError(f"{self.path}: digests: no digest named {name!r} ({known})")
