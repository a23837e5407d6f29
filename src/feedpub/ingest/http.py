"""The one HTTP client every source that reads a site uses (the only module
importing httpx), behaving as a good citizen of the sites it reads:

* a ``User-Agent`` naming feedpub and its version;
* timeouts on every request, TLS always verified;
* retries with exponential backoff on 429 and 5xx answers and on network
  errors, honouring ``Retry-After`` (seconds, or a date read against the
  answer's own ``Date``), giving up beyond ``max_retry_after``;
* a delay between two requests to one host (``delay``);
* conditional GET: ``etag``/``last_modified`` make ``If-None-Match`` and
  ``If-Modified-Since``, and a 304 comes back as an empty ``Response``;
* a cap on the bytes of one answer (counted as it arrives, decompressed);
* optional Basic auth (a WordPress application password), which never
  appears in a log line, an error or a URL this module prints.

Every failure is a ``FetchError`` (a ``SourceError``) whose message is one
line naming the source, the URL and the reason; ``transient`` tells a site
that is down (try again next run) from an answer that will not change.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from feedpub import __version__
from feedpub.ingest.source import SourceError

log = logging.getLogger("feedpub.ingest.http")

USER_AGENT = f"feedpub/{__version__} (+https://pypi.org/project/feedpub/)"
MIB = 1024 * 1024
# Statuses worth asking again: the site is busy or briefly down.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpOptions:
    """How politely and how patiently a source fetches."""

    timeout: float = 30.0  # seconds per connect, read or write
    retries: int = 3  # further tries of a request after a transient failure
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    max_backoff: float = 30.0
    # A Retry-After longer than this is not waited for: the source fails now
    # and the next run tries again.
    max_retry_after: float = 120.0
    delay: float = 0.0  # seconds between two requests to one host
    max_bytes: int = 32 * MIB  # one answer, decompressed


# What a source uses unless its config says otherwise (tests make it quicker).
DEFAULTS = HttpOptions()


class FetchError(SourceError):
    """A request that failed: ``transient`` when trying later may work (the
    site down, busy, timing out), else the answer will stay what it is."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class Response:
    """A whole answer: its final URL (after redirects), status, headers
    (names in lower case) and body. A 304 has an empty body."""

    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def etag(self) -> str | None:
        return self.header("etag")

    @property
    def last_modified(self) -> str | None:
        return self.header("last-modified")

    @property
    def charset(self) -> str | None:
        """The ``charset`` of the ``Content-Type`` header, if it names one."""
        for part in (self.header("content-type") or "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


def shown(url: str) -> str:
    """``url`` as it may be printed: without a ``user:password@`` part."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class Client:
    """An HTTP client for one source (its name starts every error)."""

    def __init__(
        self,
        source: str,
        options: HttpOptions | None = None,
        *,
        auth: tuple[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.options = options or HttpOptions()
        self._sleep = sleep
        self._clock = clock
        self._next_at: dict[str, float] = {}  # host -> earliest time of its next request
        self.requests = 0  # requests sent, retries included
        self._http = httpx.Client(
            headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(self.options.timeout),
            follow_redirects=True,
            max_redirects=5,
            # httpx drops the Authorization header on a redirect to another origin.
            auth=httpx.BasicAuth(*auth) if auth else None,
            transport=transport,
            trust_env=False,  # no proxy or .netrc credentials from the environment
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        allow: Iterable[int] = (),
    ) -> Response:
        """GET ``url`` with ``params``: the answer when it is 2xx, 304 (for
        a conditional request) or one of ``allow``; else ``FetchError``."""
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        allowed = frozenset(allow)
        attempt = 0
        while True:
            request = self._http.build_request("GET", url, params=params, headers=headers)
            where = f"{self.source}: {shown(str(request.url))}"
            self._wait_turn(request.url.host)
            try:
                response = self._send(request, where)
            except FetchError as exc:
                if not exc.transient or attempt >= self.options.retries:
                    raise
                wait = self._backoff(attempt)
                log.info("%s; trying again in %.1f s", exc, wait)
            else:
                status = response.status
                if 200 <= status < 300 or status == 304 or status in allowed:
                    return response
                reason = f"answered {status} {phrase(status)}"
                if status not in RETRY_STATUSES:
                    raise FetchError(f"{where}: {reason}", url=response.url, status=status)
                asked = _retry_after(response) if status in (429, 503) else None
                if asked is not None and asked > self.options.max_retry_after:
                    raise FetchError(
                        f"{where}: {reason}, asking to wait {asked:.0f} s",
                        url=response.url,
                        status=status,
                        transient=True,
                    )
                if attempt >= self.options.retries:
                    tries = f" ({attempt + 1} tries)" if attempt else ""
                    raise FetchError(
                        f"{where}: {reason}{tries}", url=response.url, status=status, transient=True
                    )
                wait = self._backoff(attempt) if asked is None else asked
                log.info("%s: %s; trying again in %.1f s", where, reason, wait)
            attempt += 1
            self._sleep(wait)

    def _send(self, request: httpx.Request, where: str) -> Response:
        self.requests += 1
        cap = self.options.max_bytes
        url = str(request.url)
        try:
            answer = self._http.send(request, stream=True)
            try:
                url = str(answer.url)
                declared = answer.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap and answer.status_code < 300:
                    raise _too_big(where, cap, url)
                body = bytearray()
                for chunk in answer.iter_bytes(_READ_CHUNK):
                    body += chunk
                    if len(body) > cap:
                        raise _too_big(where, cap, url)
                headers = {k.lower(): v for k, v in answer.headers.items()}
                log.debug("GET %s -> %d (%d bytes)", shown(url), answer.status_code, len(body))
                return Response(url, answer.status_code, headers, bytes(body))
            finally:
                answer.close()
        except httpx.TooManyRedirects:
            raise FetchError(f"{where}: more than 5 redirects", url=url) from None
        except httpx.DecodingError as exc:
            raise FetchError(f"{where}: cannot decode the answer: {exc}", url=url) from None
        except httpx.TimeoutException:
            raise FetchError(
                f"{where}: no answer within {self.options.timeout:g} s", url=url, transient=True
            ) from None
        except httpx.UnsupportedProtocol:
            raise FetchError(f"{where}: not an http(s) URL", url=url) from None
        except httpx.TransportError as exc:
            if _certificate_problem(exc):
                raise FetchError(
                    f"{where}: its TLS certificate does not verify: {_reason(exc)}", url=url
                ) from None
            raise FetchError(f"{where}: {_reason(exc)}", url=url, transient=True) from None
        except httpx.InvalidURL as exc:
            raise FetchError(f"{where}: invalid URL ({exc})", url=url) from None

    def _wait_turn(self, host: str) -> None:
        delay = self.options.delay
        if delay <= 0:
            return
        now = self._clock()
        wait = self._next_at.get(host, now) - now
        if wait > 0:
            self._sleep(wait)
            now += wait
        self._next_at[host] = now + delay

    def _backoff(self, attempt: int) -> float:
        return float(min(self.options.backoff * 2**attempt, self.options.max_backoff))


def _too_big(where: str, cap: int, url: str) -> FetchError:
    return FetchError(f"{where}: the answer is larger than {cap} bytes (the cap)", url=url)


def _retry_after(response: Response) -> float | None:
    """Seconds the answer asks to wait, or None when it says nothing usable.
    A date is read against the answer's own ``Date`` (the server's clock):
    feedpub's stages do not read the clock."""
    value = (response.header("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        until = email.utils.parsedate_to_datetime(value)
        sent = email.utils.parsedate_to_datetime(response.header("date") or "")
    except (TypeError, ValueError):
        return None
    if until.tzinfo is None or sent.tzinfo is None:
        return None
    return max(0.0, (until - sent).total_seconds())


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _reason(exc: BaseException) -> str:
    """The innermost cause's words on one line ("[Errno 111] Connection
    refused"), else the exception's name."""
    seen: BaseException | None = exc
    text = ""
    while seen is not None:
        text = " ".join(str(seen).split()) or text
        seen = seen.__cause__ or seen.__context__
    kind = type(exc).__name__
    return text or kind


def phrase(status: int) -> str:
    return str(httpx.codes.get_reason_phrase(status))


def json_of(response: Response, where: str) -> Any:
    """The answer's body as JSON, or a ``FetchError`` naming what it is."""
    import json

    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        kind = (response.header("content-type") or "no content type").split(";")[0]
        raise FetchError(
            f"{where}: the answer is not JSON ({kind}, {len(response.content)} bytes)",
            url=response.url,
            status=response.status,
        ) from None
