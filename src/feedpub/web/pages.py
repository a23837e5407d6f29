"""The WSGI application: subscriber pages over the static files of ``public/``.

No framework: five routes, each one regular expression, and the static side
must copy nginx's rules exactly (types by name, ETag, 304, confinement), which
a framework's file serving would have to be argued out of. wsgiref's types
and the standard library cover the rest.

Routes (every page right to left, no cookies, ``Cache-Control: no-store``):

- ``GET  /subscribe``: the form; ``POST /subscribe``: records a pending
  subscription and says "check your inbox".
- ``GET  /confirm/<token>``: a page with a button; ``POST`` confirms. The
  GET does nothing: mail scanners follow links (listmonk #1078), and a
  scanner must not opt anybody in.
- ``GET  /unsubscribe/<list>/<token>``: asks, with a POST button; the GET
  never unsubscribes, for the same reason. ``POST`` with
  ``List-Unsubscribe=One-Click`` (RFC 8058; the form sends the same field)
  unsubscribes and answers 200 with no redirect and no cookie.
- ``GET/POST /preferences/<token>``: choose digests and tags.
- anything else: a file of ``public/`` (``web.static``).

A forged or altered token gets 400; the token is the only credential.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from email_validator import EmailNotValidError, validate_email

from feedpub import templating
from feedpub.tokens import ALL_LISTS, Purpose, check_secret, make_token, read_token
from feedpub.web import static
from feedpub.web.forms import BodyError, Form, first, parse_form, read_body
from feedpub.web.subscriptions import Subscriptions

log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = static.StartResponse
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Clock = Callable[[], datetime]

ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_NAME = 200

_TOKEN = r"(?P<token>[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"
ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("subscribe", re.compile(r"/subscribe/?")),
    ("confirm", re.compile(rf"/confirm/{_TOKEN}/?")),
    ("unsubscribe", re.compile(rf"/unsubscribe/(?P<list>[^/]+)/{_TOKEN}/?")),
    ("preferences", re.compile(rf"/preferences/{_TOKEN}/?")),
)
# Anything under these prefixes is a page, never a file, whether it matched or not.
PAGE_PREFIXES = ("/subscribe", "/confirm/", "/unsubscribe/", "/preferences/")

PAGE_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    # The token is in the URL: never hand it to another site as a Referer.
    ("Referrer-Policy", "no-referrer"),
]


def content_security_policy(style_url: str) -> str:
    """Nothing loads but the pages' one stylesheet (``feeds.url``'s style.css,
    which may be on another origin than the app when nginx serves /feeds/)."""
    parts = urlsplit(style_url)
    origin = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return (
        f"default-src 'none'; style-src 'self'{origin} 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


@dataclass(frozen=True)
class ListInfo:
    name: str  # the digest's name, as in config.yaml and the tokens
    title: str


@dataclass(frozen=True)
class SiteInfo:
    """The few site values the pages show (not the whole Config)."""

    title: str
    url: str
    language: str = "ar"
    lists: tuple[ListInfo, ...] = ()
    tags: tuple[str, ...] = ()
    style_url: str = ""  # the style.css the feed build writes under feeds.url

    def list_title(self, name: str) -> str:
        return next((x.title for x in self.lists if x.name == name), name)


@dataclass(frozen=True)
class Page:
    status: str
    body: bytes
    extra_headers: tuple[tuple[str, str], ...] = ()


class WebApp:
    """The application. ``subscriptions``/``secret`` None: the pages answer
    503 with ``unavailable`` (the lazy app before it is configured), and the
    static files are still served."""

    def __init__(
        self,
        public_dir: Path,
        subscriptions: Subscriptions | None,
        secret: bytes | None,
        site: SiteInfo,
        clock: Clock,
        unavailable: str = "",
    ) -> None:
        self.public_dir = public_dir
        self.subscriptions = subscriptions
        self.secret = secret
        self.site = site
        self.clock = clock
        self.unavailable = unavailable

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = static.request_path(environ)
        if path is None or not path.startswith(PAGE_PREFIXES):
            return static.serve(
                self.public_dir,
                environ,
                start_response,
                lambda: self._send(environ, start_response, self._not_found()),
            )
        try:
            page = self._page(environ, path)
        except BodyError as exc:
            page = self._notice(exc.status, "تعذّر قراءة الطلب", str(exc))
        except Exception:
            log.exception("web: %s %s failed", environ.get("REQUEST_METHOD"), path)
            page = self._notice("500 Internal Server Error", "حدث خطأ", "حاول مرة أخرى لاحقاً.")
        return self._send(environ, start_response, page)

    # --- routing ----------------------------------------------------------------

    def _page(self, environ: Environ, path: str) -> Page:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        for name, pattern in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method not in ("GET", "HEAD", "POST"):
                return Page("405 Method Not Allowed", b"", (("Allow", "GET, HEAD, POST"),))
            if self.subscriptions is None or self.secret is None:
                return self._notice(
                    "503 Service Unavailable", "الخدمة غير متاحة الآن", self.unavailable
                )
            form: Form = {}
            if method == "POST":
                body = read_body(environ)
                form = parse_form(str(environ.get("CONTENT_TYPE", "")), body)
            handler = getattr(self, f"_{name}")
            page: Page = handler(self.subscriptions, self.secret, match, method, form, environ)
            return page
        return self._not_found()

    # --- the pages --------------------------------------------------------------

    def _subscribe(
        self,
        store: Subscriptions,
        secret: bytes,
        match: re.Match[str],
        method: str,
        form: Form,
        environ: Environ,
    ) -> Page:
        if method != "POST":
            chosen = [x.name for x in self.site.lists]
            return self._render("200 OK", "subscribe", email="", name="", chosen=chosen, error="")
        email, name = first(form, "email"), first(form, "name")[:MAX_NAME]
        known = {x.name for x in self.site.lists}
        chosen = [d for d in form.get("digest", []) if d in known]
        error = detail = ""
        address = ""
        try:
            # Syntax only: a DNS lookup per form post would let anyone make us query any domain.
            address = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            error, detail = "عنوان البريد الإلكتروني غير صالح.", str(exc)
        if not error and known and not chosen:
            error = "اختر نشرة واحدة على الأقل."
        if error:
            return self._render(
                "400 Bad Request",
                "subscribe",
                email=email,
                name=name,
                chosen=chosen,
                error=error,
                detail=detail,
            )
        store.subscribe_pending(address, " ".join(name.split()), chosen, self.clock())
        return self._notice(
            "200 OK",
            "تحقّق من بريدك",
            "أرسلنا رسالة إلى عنوانك فيها رابط لتأكيد الاشتراك. لن تصلك أي نشرة قبل التأكيد.",
            address=address,
        )

    def _confirm(
        self,
        store: Subscriptions,
        secret: bytes,
        match: re.Match[str],
        method: str,
        form: Form,
        environ: Environ,
    ) -> Page:
        address = self._read(secret, "confirm", ALL_LISTS, match)
        if address is None:
            return self._bad_link()
        if method != "POST":
            return self._render("200 OK", "confirm", address=address)
        if not store.confirm(address, self.clock()):
            return self._notice(
                "404 Not Found",
                "لا اشتراك بانتظار التأكيد",
                "انتهت صلاحية طلب الاشتراك أو لم يُطلب. يمكنك الاشتراك من جديد.",
                link=self._href(environ, "/subscribe"),
            )
        return self._notice(
            "200 OK",
            "تم تأكيد اشتراكك",
            "ستصلك النشرات التي اخترتها.",
            address=address,
            link=self._preferences_href(environ, secret, address),
        )

    def _unsubscribe(
        self,
        store: Subscriptions,
        secret: bytes,
        match: re.Match[str],
        method: str,
        form: Form,
        environ: Environ,
    ) -> Page:
        list_name = match["list"]
        address = self._read(secret, "unsubscribe", list_name, match)
        if address is None:
            return self._bad_link()
        title = self.site.list_title(list_name)
        preferences = self._preferences_href(environ, secret, address)
        if method != "POST":
            return self._render(
                "200 OK", "unsubscribe", done=False, address=address, title=title, link=preferences
            )
        if first(form, ONE_CLICK[0]) != ONE_CLICK[1]:
            return self._notice(
                "400 Bad Request", "طلب غير مكتمل", "List-Unsubscribe=One-Click is required"
            )
        store.unsubscribe(address, list_name, self.clock())
        # 200 whether or not the address was subscribed: RFC 8058 wants a plain success.
        return self._render(
            "200 OK", "unsubscribe", done=True, address=address, title=title, link=preferences
        )

    def _preferences(
        self,
        store: Subscriptions,
        secret: bytes,
        match: re.Match[str],
        method: str,
        form: Form,
        environ: Environ,
    ) -> Page:
        address = self._read(secret, "preferences", ALL_LISTS, match)
        if address is None:
            return self._bad_link()
        saved = False
        if method == "POST":
            known_lists = {x.name for x in self.site.lists}
            digests = [d for d in form.get("digest", []) if d in known_lists]
            tags = [t for t in form.get("tag", []) if t in self.site.tags]
            saved = store.set_preferences(address, digests, tags, self.clock())
        current = store.preferences(address)
        if current is None:
            return self._notice(
                "404 Not Found",
                "لست مشتركاً",
                "لا اشتراك مؤكَّداً لهذا العنوان.",
                address=address,
                link=self._href(environ, "/subscribe"),
            )
        return self._render(
            "200 OK",
            "preferences",
            address=address,
            digests=list(current[0]),
            tags=list(current[1]),
            saved=saved,
        )

    # --- helpers ------------------------------------------------------------------

    @staticmethod
    def _read(secret: bytes, purpose: Purpose, list_name: str, match: re.Match[str]) -> str | None:
        return read_token(secret, purpose, list_name, match["token"])

    def _href(self, environ: Environ, path: str) -> str:
        return quote(str(environ.get("SCRIPT_NAME", "")), safe="/") + path

    def _preferences_href(self, environ: Environ, secret: bytes, address: str) -> str:
        return self._href(
            environ, "/preferences/" + make_token(secret, "preferences", ALL_LISTS, address)
        )

    def _bad_link(self) -> Page:
        return self._notice(
            "400 Bad Request",
            "الرابط غير صالح",
            "هذا الرابط ناقص أو مُغيَّر. استعمل الرابط كما وصل في الرسالة.",
        )

    def _not_found(self) -> Page:
        return self._notice("404 Not Found", "الصفحة غير موجودة", "")

    def _notice(self, status: str, heading: str, text: str, **extra: object) -> Page:
        context: dict[str, object] = {"address": "", "link": "", **extra}
        return self._render(status, "notice", heading=heading, text=text, **context)

    def _render(self, status: str, template: str, **context: object) -> Page:
        html = templating.render(f"web/{template}.html.j2", site=self.site, **context)
        return Page(status, html.encode("utf-8"))

    def _send(self, environ: Environ, start_response: StartResponse, page: Page) -> list[bytes]:
        csp = ("Content-Security-Policy", content_security_policy(self.site.style_url))
        headers = [*PAGE_HEADERS, csp, *page.extra_headers]
        if page.body:
            headers.append(("Content-Type", "text/html; charset=utf-8"))
        headers.append(("Content-Length", str(len(page.body))))
        start_response(page.status, headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [page.body]


def make_wsgi_app(
    public_dir: Path,
    subscriptions: Subscriptions,
    secret: bytes,
    site: SiteInfo,
    clock: Clock,
) -> WsgiApp:
    """The whole web front: subscriber pages and the files of ``public_dir``."""
    check_secret(secret)  # refuse a weak secret at start, not on the first click
    return WebApp(public_dir, subscriptions, secret, site, clock)
