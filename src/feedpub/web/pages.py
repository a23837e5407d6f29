"""The WSGI application: subscriber pages over the static files of ``public/``.

No framework: five routes, each one regular expression, and the static side
must copy nginx's rules exactly (types by name, ETag, 304, confinement), which
a framework's file serving would have to be argued out of. wsgiref's types
and the standard library cover the rest.

Routes (every page right to left, no cookies, ``Cache-Control: no-store``):

- ``GET  /subscribe``: the form; ``POST /subscribe``: queues the sign-up
  and says "check your inbox". The answer is the same, in the same time,
  for every address: the queue is all the request touches, and the mailer
  (``subscribers.signups``) looks the address up afterwards. A client that
  signed up ``per_client_hour`` times within the hour gets 429.
- ``GET  /confirm/<token>``: a page with a button; ``POST`` confirms. The
  GET does nothing: mail scanners follow links (listmonk #1078), and a
  scanner must not opt anybody in. The token names its sign-up and expires.
- ``GET  /unsubscribe/<list>/<token>``: asks, with a POST button; the GET
  never unsubscribes, for the same reason. ``POST`` with
  ``List-Unsubscribe=One-Click`` (RFC 8058; the form sends the same field)
  unsubscribes and answers 200 with no redirect and no cookie.
- ``GET/POST /preferences/<token>``: choose digests and tags.
- anything else: a file of ``public/`` (``web.static``).

A forged or altered token gets 400; the token is the only credential.

The forms that change state (sign-up, confirm, preferences) carry a form
token (``tokens.make_form_token``: no cookies) and refuse a POST whose
``Origin`` is another site (403). The one-click unsubscribe is exempt: RFC
8058's POST comes from a mail provider, with neither.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from email_validator import EmailNotValidError, validate_email

from feedpub import templating
from feedpub.app.reports import WORK_FAILURES
from feedpub.model import SignupRequest
from feedpub.text.bidi import strip_bidi_controls
from feedpub.tokens import (
    Purpose,
    check_form_token,
    check_secret,
    make_form_token,
    make_token,
    preferences_scope,
    read_dated_token,
    read_token,
    token_address,
)
from feedpub.web import logs, static
from feedpub.web.forms import BodyError, Form, first, parse_form, read_body
from feedpub.web.subscriptions import Subscriptions

log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = static.StartResponse
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Clock = Callable[[], datetime]

ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_NAME = 200
# What a 503 asks the client to wait: a store restart or a failover (service.failover_seconds).
RETRY_AFTER_SECONDS = 30

_TOKEN = r"(?P<token>[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"
_DATED_TOKEN = r"(?P<token>[A-Za-z0-9_-]+\.[0-9]+\.[0-9]+\.[A-Za-z0-9_-]+)"
ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("subscribe", re.compile(r"/subscribe/?")),
    ("confirm", re.compile(rf"/confirm/{_DATED_TOKEN}/?")),
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


# How long a served form may be posted back.
FORM_MAX_AGE = timedelta(days=1)


@dataclass(frozen=True)
class SignupLimits:
    """``web:`` as the pages use it."""

    per_client_hour: int = 10
    # Proxies whose X-Forwarded-For names the client (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()


def client_address(
    environ: Environ, trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> str:
    """The client's IP address: the peer, or when the peer is a trusted
    proxy, the last address of X-Forwarded-For that is not one (the hops
    before it are whatever the client chose to write)."""
    peer = str(environ.get("REMOTE_ADDR") or "")
    try:
        current = ipaddress.ip_address(peer)
    except ValueError:
        return peer[:64] or "unknown"
    hops = str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")
    for hop in reversed([h.strip() for h in hops if h.strip()]):
        if not any(current in network for network in trusted):
            break
        try:
            current = ipaddress.ip_address(hop)
        except ValueError:
            break  # a malformed hop: trust nothing further along
    return str(current)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


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
    # Only for those who tick it (an alert): not ticked on the sign-up form.
    opt_in: bool = False


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
    503 (the lazy app before it is configured; ``unavailable``, the reason,
    is the operator's: logged, never shown), and the static files are still
    served. A store that fails while answering gives 503 too."""

    def __init__(
        self,
        public_dir: Path,
        subscriptions: Subscriptions | None,
        secret: bytes | None,
        site: SiteInfo,
        clock: Clock,
        unavailable: str = "",
        limits: SignupLimits | None = None,
    ) -> None:
        self.public_dir = public_dir
        self.subscriptions = subscriptions
        self.secret = secret
        self.site = site
        self.clock = clock
        self.unavailable = unavailable
        self.limits = limits or SignupLimits()
        self._trusted = tuple(
            ipaddress.ip_network(p, strict=False) for p in self.limits.trusted_proxies
        )

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
        except WORK_FAILURES as exc:
            # The store is down or restarting: a passing state, so 503 and
            # when to come back, not a 500 (a mail client's one-click POST retries).
            log.error(
                "web: %s %s: unavailable: %s",
                environ.get("REQUEST_METHOD"),
                logs.mask(path),
                logs.describe_failure(exc),
            )
            page = self._unavailable()
        except Exception as exc:
            log.error(
                "web: %s %s failed: %s",
                environ.get("REQUEST_METHOD"),
                logs.mask(path),
                logs.describe_failure(exc),
            )
            page = self._notice("500 Internal Server Error", "حدث خطأ", "حاول مرة أخرى لاحقاً.")
        return self._send(environ, start_response, page)

    def _unavailable(self) -> Page:
        page = self._notice(
            "503 Service Unavailable", "الخدمة غير متاحة الآن", "حاول مرة أخرى بعد قليل."
        )
        return Page(page.status, page.body, (("Retry-After", str(RETRY_AFTER_SECONDS)),))

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
                return self._unavailable()
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
            chosen = [x.name for x in self.site.lists if not x.opt_in]
            return self._signup_page("200 OK", environ, secret, chosen=chosen)
        email = first(form, "email")
        name = strip_bidi_controls(first(form, "name"))[:MAX_NAME]  # it reaches greetings
        known = {x.name for x in self.site.lists}
        chosen = [d for d in form.get("digest", []) if d in known]
        refused = self._refused(environ, secret, "subscribe", form)
        if refused is not None:
            return self._signup_page(
                "403 Forbidden",
                environ,
                secret,
                email=email,
                name=name,
                chosen=chosen,
                error=refused,
            )
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
            return self._signup_page(
                "400 Bad Request",
                environ,
                secret,
                email=email,
                name=name,
                chosen=chosen,
                error=error,
                detail=detail,
            )
        request = SignupRequest(
            email=address,
            name=" ".join(name.split()) or None,
            digests=tuple(chosen),
            client=client_address(environ, self._trusted),
            requested=self.clock(),
        )
        if not store.request_signup(request, self.limits.per_client_hour):
            page = self._notice(
                "429 Too Many Requests",
                "طلبات كثيرة",
                "وصلتنا طلبات اشتراك كثيرة من عنوانك خلال الساعة الأخيرة. حاول لاحقاً.",
            )
            return Page(page.status, page.body, (("Retry-After", "3600"),))
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
        found = read_dated_token(secret, "confirm", match["token"])
        if found is None:
            return self._bad_link()
        subscribe = self._href(environ, "/subscribe")
        if found.expires < self.clock():
            return self._notice(
                "410 Gone",
                "انتهت صلاحية الرابط",
                "مضى وقت طويل على طلب الاشتراك. اشترك من جديد لتصلك رسالة تأكيد جديدة.",
                link=subscribe,
            )
        page_key = f"confirm:{match['token']}"
        if method != "POST":
            csrf = make_form_token(secret, page_key, self.clock())
            return self._render("200 OK", "confirm", address=found.address, csrf=csrf)
        refused = self._refused(environ, secret, page_key, form)
        if refused is not None:
            return self._notice("403 Forbidden", "تعذّر التأكيد", refused)
        client = client_address(environ, self._trusted)
        confirmed = store.confirm(found.ref, found.address, client, self.clock())
        if confirmed is None:
            return self._notice(
                "404 Not Found",
                "لا اشتراك بانتظار التأكيد",
                "انتهت صلاحية طلب الاشتراك أو لم يُطلب. يمكنك الاشتراك من جديد.",
                link=subscribe,
            )
        if not confirmed:
            return self._notice(
                "409 Conflict",
                "استُعمل هذا الرابط من قبل",
                "أكّدت هذا الطلب من قبل. لتعديل اشتراكك استعمل رابط التفضيلات في آخر رسالة "
                "وصلتك، أو اشترك من جديد.",
                link=subscribe,
            )
        return self._notice(
            "200 OK",
            "تم تأكيد اشتراكك",
            "ستصلك النشرات التي اخترتها.",
            address=found.address,
            link=self._preferences_href(environ, store, secret, found.address),
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
        if method != "POST":
            return self._render(
                "200 OK",
                "unsubscribe",
                done=False,
                address=address,
                title=title,
                link=self._preferences_href(environ, store, secret, address),
            )
        if first(form, ONE_CLICK[0]) != ONE_CLICK[1]:
            return self._notice(
                "400 Bad Request", "طلب غير مكتمل", "List-Unsubscribe=One-Click is required"
            )
        store.unsubscribe(address, list_name, self.clock())
        # 200 whether or not the address was subscribed: RFC 8058 wants a plain success.
        # Still receiving other digests: their preferences; else a sign-up form.
        return self._render(
            "200 OK",
            "unsubscribe",
            done=True,
            address=address,
            title=title,
            link=self._preferences_href(environ, store, secret, address),
            action=self._href(environ, "/subscribe"),
            csrf=make_form_token(secret, "subscribe", self.clock()),
            chosen=[list_name],
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
        address = self._read_preferences(store, secret, match["token"])
        if address is None:
            # Not stored, left since (a new key), forged: one answer, so a
            # made-up token tells nothing of who is stored.
            return self._bad_link()
        page_key = f"preferences:{match['token']}"
        saved = False
        if method == "POST":
            refused = self._refused(environ, secret, page_key, form)
            if refused is not None:
                return self._notice("403 Forbidden", "تعذّر الحفظ", refused)
            known_lists = {x.name for x in self.site.lists}
            digests = [d for d in form.get("digest", []) if d in known_lists]
            tags = [t for t in form.get("tag", []) if t in self.site.tags]
            saved = store.set_preferences(address, digests, tags, self.clock())
        current = store.preferences(address)
        if current is None:
            return self._notice(
                "404 Not Found",
                "لست مشتركاً",
                "لا اشتراك مؤكَّداً لهذا العنوان. يمكنك الاشتراك من جديد.",
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
            csrf=make_form_token(secret, page_key, self.clock()),
        )

    # --- helpers ------------------------------------------------------------------

    @staticmethod
    def _read(secret: bytes, purpose: Purpose, list_name: str, match: re.Match[str]) -> str | None:
        return read_token(secret, purpose, list_name, match["token"])

    @staticmethod
    def _read_preferences(store: Subscriptions, secret: bytes, token: str) -> str | None:
        """The address of a preferences token signed under its current link key."""
        named = token_address(token)
        key = None if named is None else store.link_key(named)
        if key is None:
            return None
        return read_token(secret, "preferences", preferences_scope(key), token)

    def _refused(self, environ: Environ, secret: bytes, page: str, form: Form) -> str | None:
        """Why a state-changing POST is refused: another site's Origin (a
        browser always sends it with a cross-site POST), or no valid form
        token of ``page``; None when it may go on."""
        origin = str(environ.get("HTTP_ORIGIN") or "").lower()
        fetched_from = str(environ.get("HTTP_SEC_FETCH_SITE") or "")
        own = {_origin(self.site.url)}
        host = environ.get("HTTP_HOST")
        if host:
            own.add(f"{environ.get('wsgi.url_scheme', 'http')}://{host}".lower())
        if fetched_from == "cross-site" or (origin and origin not in own):
            return "رُفض الطلب: أُرسل النموذج من موقع آخر."
        if not check_form_token(secret, page, first(form, "csrf"), self.clock(), FORM_MAX_AGE):
            return "انتهت صلاحية النموذج أو نقص. أعد تحميل الصفحة وحاول مرة أخرى."
        return None

    def _signup_page(
        self,
        status: str,
        environ: Environ,
        secret: bytes,
        *,
        email: str = "",
        name: str = "",
        chosen: Sequence[str] = (),
        error: str = "",
        detail: str = "",
    ) -> Page:
        return self._render(
            status,
            "subscribe",
            action=self._href(environ, "/subscribe"),
            csrf=make_form_token(secret, "subscribe", self.clock()),
            email=email,
            name=name,
            chosen=list(chosen),
            error=error,
            detail=detail,
        )

    def _href(self, environ: Environ, path: str) -> str:
        return quote(str(environ.get("SCRIPT_NAME", "")), safe="/") + path

    def _preferences_href(
        self, environ: Environ, store: Subscriptions, secret: bytes, address: str
    ) -> str:
        """The address's preferences page while it is an active subscriber, else ""."""
        key = store.link_key(address)
        if key is None or store.preferences(address) is None:
            return ""
        token = make_token(secret, "preferences", preferences_scope(key), address)
        return self._href(environ, "/preferences/" + token)

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
    limits: SignupLimits | None = None,
) -> WsgiApp:
    """The whole web front: subscriber pages and the files of ``public_dir``."""
    check_secret(secret)  # refuse a weak secret at start, not on the first click
    return WebApp(public_dir, subscriptions, secret, site, clock, limits=limits)
