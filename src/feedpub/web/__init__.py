"""The web front: subscribe, confirm, unsubscribe (RFC 8058 one-click) and
preferences pages, over the static files of ``public/``.

Two ways in:

- ``make_wsgi_app(public_dir, subscriptions, secret, site, clock)``: everything
  handed in (tests, or a caller that has built its own store).
- ``feedpub.web:app`` for any WSGI server (gunicorn, uWSGI, waitress,
  wsgiref). It builds itself on the first request from ``$FEEDPUB_CONFIG``
  (``feedpub.config.load_config``), the secret from ``$FEEDPUB_SECRET`` or
  the systemd credential ``feedpub_secret``, and the subscriber store from
  the factory given to ``configure``::

      # wsgi.py, for example
      from feedpub import web
      from feedpub.app import open_subscriptions   # (cfg: Config) -> Subscriptions
      web.configure(open_subscriptions)
      app = web.app

  Until a factory is configured (or while the secret is missing), the pages
  answer 503 saying what is missing, and the files of ``public/`` are still
  served. A config that does not load answers 503 everywhere and is read
  again on the next request.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from feedpub.config import Config, ConfigError, load_config
from feedpub.tokens import SecretError, load_secret
from feedpub.web.pages import (
    ListInfo,
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
    "SiteInfo",
    "Subscriptions",
    "app",
    "build_app",
    "configure",
    "make_wsgi_app",
    "site_info",
]

log = logging.getLogger(__name__)

SubscriptionsFactory = Callable[[Config], Subscriptions]


def site_info(cfg: Config) -> SiteInfo:
    """What the pages show, from the config: the site, its digests and its tags."""
    return SiteInfo(
        title=cfg.site.title,
        url=cfg.site.url,
        language=cfg.site.language,
        lists=tuple(ListInfo(d.name, d.title or d.name) for d in cfg.digests),
        tags=tuple(cfg.tags.vocabulary),
    )


def _now() -> datetime:
    return datetime.now(UTC)


class _LazyApp:
    """``feedpub.web:app``: builds the real application on first use, so
    importing the module (as a WSGI server does) reads nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._factory: SubscriptionsFactory | None = None
        self._built: WsgiApp | None = None

    def configure(self, factory: SubscriptionsFactory | None) -> None:
        with self._lock:
            self._factory = factory
            self._built = None  # the next request builds again, with this factory

    def __call__(
        self, environ: dict[str, object], start_response: StartResponse
    ) -> Iterable[bytes]:
        return self._get()(environ, start_response)

    def _get(self) -> WsgiApp:
        with self._lock:
            if self._built is None:
                try:
                    cfg = load_config()
                except ConfigError as exc:
                    log.error("web: %s", exc)
                    return _failing(str(exc))  # not kept: read the config again next time
                self._built = self._build(cfg)
            return self._built

    def _build(self, cfg: Config) -> WsgiApp:
        site, public = site_info(cfg), cfg.feeds.output
        if self._factory is None:
            reason = "no subscriber store configured (call feedpub.web.configure)"
            log.warning("web: %s; serving the files of %s only", reason, public)
            return WebApp(public, None, None, site, _now, unavailable=reason)
        try:
            secret = load_secret(os.environ)
        except SecretError as exc:
            log.error("web: %s", exc)
            return WebApp(public, None, None, site, _now, unavailable=str(exc))
        return make_wsgi_app(public, self._factory(cfg), secret, site, _now)


def build_app(cfg: Config, subscriptions: Subscriptions) -> WsgiApp:
    """The web app for ``cfg`` over ``subscriptions`` (``feedpub serve``):
    the pages answer 503 naming what is missing while the secret is."""
    site, public = site_info(cfg), cfg.feeds.output
    try:
        secret = load_secret(os.environ)
    except SecretError as exc:
        log.error("web: %s", exc)
        return WebApp(public, None, None, site, _now, unavailable=str(exc))
    return make_wsgi_app(public, subscriptions, secret, site, _now)


def _failing(reason: str) -> WsgiApp:
    body = f"feedpub web: unavailable: {reason}\n".encode()

    def answer(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
        start_response(
            "503 Service Unavailable",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return answer


app = _LazyApp()


def configure(subscriptions: SubscriptionsFactory | None) -> None:
    """Give ``feedpub.web:app`` its subscriber store: a function from the
    loaded ``Config`` to a ``Subscriptions`` (feedpub.app's factory). Call it
    before the server starts; calling it again rebuilds on the next request."""
    app.configure(subscriptions)
