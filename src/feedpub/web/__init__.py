"""The web front: subscribe, confirm, unsubscribe (RFC 8058 one-click) and
preferences pages, over the static files of ``public/``.

Two ways in:

- ``make_wsgi_app(public_dir, subscriptions, secret, site, clock)``: everything
  handed in (tests, or a caller that has built its own store).
- ``build_app(cfg, subscriptions)``: ``feedpub serve`` hands in the
  subscriptions of its publisher; ``server`` hosts it.
- ``feedpub.web:app`` for any WSGI server (gunicorn, uWSGI, waitress). It
  builds itself on the first request, through the composition root: the
  config from ``$FEEDPUB_CONFIG``, a publisher over its store (open for the
  life of the process), the secret from ``$FEEDPUB_SECRET`` or the systemd
  credential ``feedpub_secret``.

  While the secret is missing, the pages answer 503 (the log says what is
  missing) and the files of ``public/`` are still served. A config that does
  not load or a store that cannot be opened answers a plain 503 everywhere
  (the reason, which names paths, goes to the log only) and is tried again
  on the next request. A store that fails while a page is answered gives 503
  with ``Retry-After``, not 500.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from feedpub.app import reports
from feedpub.config import Config, ConfigError, load_config
from feedpub.text.uri import iri_to_uri
from feedpub.tokens import SecretError, load_secret
from feedpub.web import logs
from feedpub.web.pages import (
    RETRY_AFTER_SECONDS,
    ListInfo,
    SignupLimits,
    SiteInfo,
    StartResponse,
    WebApp,
    WsgiApp,
    make_wsgi_app,
)
from feedpub.web.subscriptions import Preferences, Subscriptions

__all__ = [
    "ListInfo",
    "Preferences",
    "SignupLimits",
    "SiteInfo",
    "Subscriptions",
    "app",
    "build_app",
    "make_wsgi_app",
    "site_info",
]

log = logging.getLogger(__name__)
logs.install()  # tokens masked in every line the web side logs


def site_info(cfg: Config) -> SiteInfo:
    """What the pages show, from the config: the site, its digests and its tags."""
    return SiteInfo(
        title=cfg.site.title,
        url=cfg.site.url,
        language=cfg.site.language,
        lists=tuple(ListInfo(d.name, d.title or d.name, d.is_alert) for d in cfg.digests),
        tags=tuple(cfg.tags.vocabulary),
        # Written there by the feed build (feeds.urls.STYLE_PATH).
        style_url=iri_to_uri(cfg.feeds.url.rstrip("/")) + "/style.css",
    )


def _now() -> datetime:
    return datetime.now(UTC)


# What keeps the app from being built now (tried again on the next request).
_BUILD_FAILURES: tuple[type[Exception], ...] = (ConfigError, *reports.WORK_FAILURES)


class _LazyApp:
    """``feedpub.web:app``: builds the real application on first use, so
    importing the module (as a WSGI server does) reads nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: WsgiApp | None = None

    def __call__(
        self, environ: dict[str, object], start_response: StartResponse
    ) -> Iterable[bytes]:
        return self._get()(environ, start_response)

    def _get(self) -> WsgiApp:
        with self._lock:
            if self._built is None:
                try:
                    self._built = self._build()
                except Exception as exc:
                    # The reason (a config path, a store URL) is the
                    # operator's: logged, while the visitor gets a plain page.
                    known = isinstance(exc, _BUILD_FAILURES)
                    log.error("web: unavailable: %s", exc if known else logs.describe_failure(exc))
                    return _failing  # not kept: tried again next time
            return self._built

    def _build(self) -> WsgiApp:
        from feedpub import app

        cfg = load_config()
        publisher = app.make_publisher(cfg, now=_now())  # its store stays open
        return build_app(cfg, publisher.subscriptions())


def build_app(
    cfg: Config, subscriptions: Subscriptions, clock: Callable[[], datetime] = _now
) -> WsgiApp:
    """The web app for ``cfg`` over ``subscriptions`` (``feedpub serve``,
    with its jobs' ``clock``, so a link the mailer dates is judged by the
    same time): the pages answer 503 while the secret is missing."""
    site, public = site_info(cfg), cfg.feeds.output
    try:
        secret = load_secret(os.environ)
    except SecretError as exc:
        log.error("web: %s", exc)
        return WebApp(public, None, None, site, clock, unavailable=str(exc))
    limits = SignupLimits(cfg.web.signups_per_client_per_hour, cfg.web.trusted_proxies)
    return make_wsgi_app(public, subscriptions, secret, site, clock, limits)


_UNAVAILABLE = b"Service unavailable: try again in a moment.\n"


def _failing(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
    """The answer while the app cannot be built: no reason, no path (those are logged)."""
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(_UNAVAILABLE))),
            ("Retry-After", str(RETRY_AFTER_SECONDS)),
            ("Cache-Control", "no-store"),
        ],
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [_UNAVAILABLE]


app = _LazyApp()
