"""The SMTP backend of the ``Sender`` protocol: one connection reused for many
messages, a process-wide rate limit, bounded retries of passing failures.

What becomes of a message (``SendResult``):

- 2xx: ``sent``.
- 5xx (sender, every recipient, or the data refused): ``failed``, with the
  server's code and words; the connection stays open for the next message.
- 4xx, a dropped connection, a timeout: retried on a fresh connection after
  ``backoff_base * 2**n`` seconds (at most ``backoff_max``), up to
  ``max_attempts`` in all, then ``deferred`` for a later run. (SES's 454
  "throttling" is the common case; listmonk #1109 sent three copies because
  its retry did not know whether a message had gone: here a message is
  retried only after a reply that says it was not taken, or a drop.)

``send`` raises (``smtplib.SMTPException`` is an ``OSError``) only when the
relay as a whole is unusable: it refuses the credentials, lacks STARTTLS when
it is required, or cannot be reached at all after ``max_attempts``.

Only the standard library's smtplib: the protocol is small and smtplib is
maintained with Python. The password is never logged, nor in ``repr``;
smtplib's debug output (which would print the AUTH exchange) stays off.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal, NoReturn

from feedpub.delivery.sender import Outgoing, SendResult

log = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    # "starttls" (submission, port 587), "tls" (implicit TLS, port 465), or
    # "none" (a relay on localhost or a private network only).
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0  # seconds, per socket operation
    rate: float | None = None  # messages per second at most, for the whole process
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    # Extra CA certificates to trust (a private relay's own CA); the system's
    # store is used either way, and hostnames are always checked.
    cafile: str | None = None
    # The name given in EHLO; None lets smtplib use the machine's FQDN.
    helo_name: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.host:
            problems.append("host is empty")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is out of range")
        if self.security not in ("none", "starttls", "tls"):
            problems.append(f"security {self.security!r} is not none, starttls or tls")
        if (self.username is None) != (self.password is None):
            problems.append("username and password go together")
        if self.timeout <= 0:
            problems.append("timeout must be positive")
        if self.rate is not None and self.rate <= 0:
            problems.append("rate must be positive (or None for no limit)")
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_max < 0:
            problems.append("backoff must not be negative")
        if problems:
            raise ValueError("SMTP settings: " + "; ".join(problems))


class RateLimiter:
    """A token bucket holding one token (no bursts): ``acquire`` returns when
    the next message may go, at most ``rate`` a second. Thread-safe; waiting
    happens outside the lock, each caller reserving its own slot."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def slow_to(self, rate: float) -> None:
        with self._lock:
            self._interval = max(self._interval, 1.0 / rate)

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


# One bucket per relay and account, shared by every sender in the process: the
# limit is the relay's, however many threads or digests send through it
# (listmonk's per-worker limit overshoots by its concurrency, PR #2974).
_limiters: dict[tuple[str, int, str | None], RateLimiter] = {}
_limiters_lock = threading.Lock()


def rate_limiter(settings: SmtpSettings) -> RateLimiter | None:
    if settings.rate is None:
        return None
    key = (settings.host.lower(), settings.port, settings.username)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(settings.rate)
        else:
            limiter.slow_to(settings.rate)  # two settings for one relay: the stricter wins
        return limiter


def _ascii_address(address: str) -> str:
    # An international domain goes as IDNA (xn--); a non-ASCII local part
    # stays and needs SMTPUTF8.
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def _words(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(said.split())}"


class _Passing(Exception):
    """A failure worth another attempt; ``detail`` says what happened."""

    def __init__(self, detail: str, *, unreachable: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.unreachable = unreachable


class SmtpSender:
    """Sends through one SMTP relay (see the module docstring)."""

    def __init__(
        self, settings: SmtpSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self._sleep = sleep  # the backoff's wait; tests pass their own
        self._limiter = rate_limiter(settings)
        self._conn: smtplib.SMTP | None = None
        self.connections = 0  # opened so far: for logs and tests

    # --- the Sender protocol ----------------------------------------------------

    idempotent = False  # a relay takes the same message twice
    linesep = b"\r\n"

    def send(self, message: EmailMessage | Outgoing, key: str) -> SendResult:
        outgoing = Outgoing.of(message)
        from_addr = _ascii_address(outgoing.sender) if outgoing.sender else ""
        to_addrs = [_ascii_address(a) for a in outgoing.recipients]
        if not from_addr or not to_addrs:
            return SendResult("failed", "the message has no From or no To address")
        options = [] if (from_addr + "".join(to_addrs)).isascii() else ["SMTPUTF8"]
        data = outgoing.with_linesep(b"\r\n")
        s = self.settings
        detail = ""
        for attempt in range(1, s.max_attempts + 1):
            if attempt > 1:
                delay = min(s.backoff_max, s.backoff_base * 2 ** (attempt - 2))
                log.info("smtp: %s: %s; attempt %d in %.1fs", key, detail, attempt, delay)
                self._sleep(delay)
            if self._limiter is not None:
                self._limiter.acquire()
            try:
                return self._transaction(from_addr, to_addrs, options, data, key)
            except _Passing as passing:
                detail = passing.detail
                if passing.unreachable and attempt == s.max_attempts:
                    raise OSError(
                        f"SMTP relay {s.host}:{s.port} unreachable after {attempt} attempts: "
                        f"{detail}"
                    ) from None
        log.warning("smtp: %s deferred after %d attempts: %s", key, s.max_attempts, detail)
        return SendResult("deferred", detail)

    def sync(self) -> None:
        """Nothing to do: a message is the relay's once it answered 250."""

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            conn.close()

    # --- one attempt --------------------------------------------------------------

    def _transaction(
        self, from_addr: str, to_addrs: list[str], options: list[str], data: bytes, key: str
    ) -> SendResult:
        conn = self._connection()
        try:
            refused = conn.sendmail(from_addr, to_addrs, data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.items())
            words = "; ".join(f"{addr}: {_words(code, text)}" for addr, (code, text) in replies)
            if any(400 <= code < 500 for _, (code, _text) in replies):
                self._drop_if_closed()
                raise _Passing(words) from None
            return SendResult("failed", words)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            words = _words(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                self._drop_if_closed()
                raise _Passing(words) from None
            if exc.smtp_code >= 500:
                return SendResult("failed", words)
            self._drop()  # a reply outside the protocol: start over on a new connection
            raise _Passing(words) from None
        except smtplib.SMTPNotSupportedError as exc:
            return SendResult("failed", str(exc))  # SMTPUTF8 needed, not offered
        except (smtplib.SMTPServerDisconnected, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            self._drop()
            raise _Passing(f"connection lost: {exc or type(exc).__name__}") from None
        if refused:  # some recipients took it: sending again would duplicate theirs
            words = "; ".join(f"{a}: {_words(c, t)}" for a, (c, t) in refused.items())
            return SendResult("sent", f"refused for some recipients: {words}")
        log.debug("smtp: %s sent", key)
        return SendResult("sent")

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None and self._conn.sock is not None:
            return self._conn
        self._drop()
        s = self.settings
        context = ssl.create_default_context(cafile=s.cafile) if s.security != "none" else None
        conn: smtplib.SMTP
        try:
            if s.security == "tls":
                conn = smtplib.SMTP_SSL(
                    s.host, s.port, local_hostname=s.helo_name, timeout=s.timeout, context=context
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, local_hostname=s.helo_name, timeout=s.timeout)
        except smtplib.SMTPConnectError as exc:  # the greeting was not 220
            self._raise_for_reply(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPServerDisconnected, TimeoutError) as exc:
            raise _Passing(f"connecting: {exc or type(exc).__name__}") from None
        except ssl.SSLError:
            raise  # a certificate problem will not pass by waiting
        except OSError as exc:
            raise _Passing(f"connecting: {exc}", unreachable=True) from None
        self.connections += 1
        try:
            if s.security == "starttls":
                conn.ehlo()
                conn.starttls(context=context)  # raises if not offered: never fall back to plain
                conn.ehlo()
            if s.username is not None and s.password is not None:
                conn.login(s.username, s.password)
        except smtplib.SMTPResponseException as exc:
            conn.close()
            if 400 <= exc.smtp_code < 500:
                raise _Passing(_words(exc.smtp_code, exc.smtp_error)) from None
            raise  # 5xx on AUTH or STARTTLS: the relay refuses us as configured
        except (smtplib.SMTPServerDisconnected, TimeoutError, ConnectionError) as exc:
            conn.close()
            raise _Passing(f"connection lost: {exc or type(exc).__name__}") from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _raise_for_reply(self, code: int, text: bytes | str) -> NoReturn:
        if 400 <= code < 500:
            raise _Passing(_words(code, text))
        raise smtplib.SMTPConnectError(code, text)

    def _drop_if_closed(self) -> None:
        # smtplib closes the socket itself after a 421 (the server is leaving).
        if self._conn is not None and self._conn.sock is None:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
