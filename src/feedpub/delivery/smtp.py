"""The SMTP backend of the ``Sender`` protocol: ``SmtpSender`` is one
connection to one relay, reused for many messages; ``pool.SmtpPool`` runs
several of them, to one relay or several, as the lanes delivery sends over
in parallel.

What becomes of a message (``SendResult``):

- 2xx: ``sent``.
- 5xx (sender, every recipient, or the data refused): ``failed``, with the
  server's code and words; the connection stays open for the next message.
- 4xx or a dropped connection: retried on a fresh connection after
  ``backoff_base * 2**n`` seconds (at most ``backoff_max``), up to
  ``max_attempts`` in all and within the message's deadline, then
  ``deferred`` for a later run. (SES's 454 "throttling" is the common case;
  listmonk #1109 sent three copies because its retry did not know whether a
  message had gone: here a message is retried only after a reply that says
  it was not taken, or a drop.) The backoff sleeps in this connection's own
  thread: a relay slowing one connection does not slow the others.
- No answer by the message's deadline (``timeout``: every attempt of one
  message included; each socket operation waits at most what is left of
  it): ``deferred`` with ``stop="timeout"``, and delivery stops that
  connection, so a relay that accepts TCP and never answers costs one
  deadline per connection, not one per recipient.
- An internationalised address (RFC 6531/6532: the address itself is UTF-8
  in the header) goes with ``SMTPUTF8`` when the relay offers it, and is
  ``deferred`` with that reason when it does not.

The window no protocol closes: a relay that takes the whole message and
drops the connection before its reply. Nothing says whether it kept the
message, so it is sent again on a new connection (a lost digest is worse
than a second copy, and both carry the same Message-ID, which receiving
systems dedupe on). The window is the relay's time to answer after the
message's last byte; measured (the case of ``tests/delivery/test_concurrent.py``
``test_a_drop_after_data_costs_one_copy_per_drop`` at 2,000 recipients over
8 connections, a relay dropping 1 message in 100 that way): 2,020 messages,
the 20 extra exactly the 20 dropped, nobody missed. One copy per such drop,
never more.

``send`` raises (``smtplib.SMTPException`` is an ``OSError``) only when the
relay as a whole is unusable: it refuses the credentials, lacks STARTTLS when
it is required, or cannot be reached at all after ``max_attempts``.

Only the standard library's smtplib: the protocol is small and smtplib is
maintained with Python. The password is never logged, nor in ``repr``;
smtplib's debug output (which would print the AUTH exchange) stays off.
"""

from __future__ import annotations

import functools
import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal, NoReturn

from feedpub.delivery.limits import RateLimiter, RelayState, relay_limiter
from feedpub.delivery.sender import Outgoing, SendResult

log = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]
Clock = Callable[[], float]

# A reply that comes this close to the deadline counts as late: socket
# timeouts round to milliseconds.
_LATE = 0.01


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    # "starttls" (submission, port 587), "tls" (implicit TLS, port 465), or
    # "none" (a relay on localhost or a private network only).
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # Seconds one message may take, every attempt included; each socket
    # operation waits at most what is left of it.
    timeout: float = 30.0
    rate: float | None = None  # messages per second at most to this relay, whole process
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

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


def _ascii_address(address: str) -> str:
    # An international domain goes as IDNA (xn--) in the envelope; a
    # non-ASCII local part stays (the session is SMTPUTF8 then).
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


@functools.lru_cache(maxsize=1)
def _local_name() -> str:
    # What smtplib would say in EHLO, worked out once per process rather than
    # once per connection (socket.getfqdn may ask DNS).
    fqdn = socket.getfqdn()
    if "." in fqdn:
        return fqdn
    try:
        return f"[{socket.gethostbyname(socket.gethostname())}]"
    except OSError:
        return "[127.0.0.1]"


class _Passing(Exception):
    """A failure worth another attempt; ``detail`` says what happened."""

    def __init__(self, detail: str, *, unreachable: bool = False, connecting: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.unreachable = unreachable
        self.connecting = connecting  # the connection itself was refused or lost


class _Deadline:
    """The socket of a connection waits at most until ``deadline`` (the
    current message's) on every command and reply."""

    deadline: float
    clock: Clock
    sock: socket.socket | None

    def _left(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        return left

    def send(self, s: Any) -> None:
        if self.sock is not None:
            self.sock.settimeout(self._left())
        super().send(s)  # type: ignore[misc]

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is not None:
            self.sock.settimeout(self._left())
        reply: tuple[int, bytes] = super().getreply()  # type: ignore[misc]
        return reply


class _SMTP(_Deadline, smtplib.SMTP):
    pass


class _SMTPS(_Deadline, smtplib.SMTP_SSL):
    pass


class SmtpSender:
    """Sends over one connection to one relay (see the module docstring).
    Not shared between threads: a pool gives each thread its own."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock = time.monotonic,
        relay: RelayState | None = None,
        limiters: Sequence[RateLimiter] = (),
    ) -> None:
        self.settings = settings
        self._sleep = sleep  # the backoff's wait; tests pass their own
        self._clock = clock
        self._relay = relay
        own = relay_limiter(settings.host, settings.port, settings.username, settings.rate)
        self._limiters = [*([own] if own is not None else []), *limiters]
        self._turn = False  # wait_turn was called and its turn not yet used
        self._conn: _SMTP | _SMTPS | None = None
        self.connections = 0  # opened so far: for logs and tests

    # --- the Sender protocol ----------------------------------------------------

    idempotent = False  # a relay takes the same message twice
    linesep = b"\r\n"

    @property
    def send_deadline(self) -> float:
        return self.settings.timeout

    def open(self) -> bool:
        """Connect before any row is claimed for this connection (the
        ``Lane`` protocol): False when the relay refuses it while it holds
        others of ours; raises ``TimeoutError`` when the relay does not
        answer within the deadline, ``OSError`` when unreachable."""
        s = self.settings
        deadline = self._clock() + s.timeout
        detail = ""
        for attempt in range(1, s.max_attempts + 1):
            if attempt > 1 and not self._backoff(attempt, deadline, "connecting", detail):
                break
            try:
                self._connection(deadline)
                return True
            except _Passing as passing:
                detail = passing.detail
                if self._relay is not None and self._relay.at_limit(detail):
                    return False
                if self._late(deadline):
                    raise TimeoutError(
                        f"SMTP relay {s.name} did not answer within {s.timeout:g}s"
                    ) from None
        raise OSError(f"SMTP relay {s.name} unreachable after {attempt} attempts: {detail}")

    def wait_turn(self) -> None:
        for limiter in self._limiters:
            limiter.acquire()  # real time, whatever the backoff's sleep is
        self._turn = True

    def send(self, message: EmailMessage | Outgoing, key: str) -> SendResult:
        outgoing = Outgoing.of(message)
        if not outgoing.sender or not outgoing.recipients:
            return SendResult("failed", "the message has no From or no To address")
        from_addr = _ascii_address(outgoing.sender)
        to_addrs = [_ascii_address(a) for a in outgoing.recipients]
        # The header carries a non-ASCII address as UTF-8 (RFC 6532), so
        # any non-ASCII address at all needs an SMTPUTF8 session.
        wide = [a for a in (outgoing.sender, *outgoing.recipients) if not a.isascii()]
        data = outgoing.with_linesep(b"\r\n")
        s = self.settings
        turn, self._turn = self._turn, False
        deadline = -1.0
        detail = ""
        unreachable = False
        for attempt in range(1, s.max_attempts + 1):
            if attempt > 1 and not self._backoff(attempt, deadline, key, detail):
                break
            if not turn:
                self.wait_turn()
                self._turn = False
            turn = False
            if attempt == 1:  # the deadline runs from the first turn
                deadline = self._clock() + s.timeout
            try:
                return self._transaction(from_addr, to_addrs, wide, data, key, deadline)
            except _Passing as passing:
                detail, unreachable = passing.detail, passing.unreachable
                relay = self._relay
                if passing.connecting and relay is not None and relay.at_limit(detail):
                    return SendResult("deferred", f"{s.name}: {detail}", stop="limit")
                if self._late(deadline):
                    return self._timed_out(key)
        if unreachable:
            raise OSError(f"SMTP relay {s.name} unreachable after {attempt} attempts: {detail}")
        log.warning("smtp: %s deferred after %d attempts: %s", key, attempt, detail)
        return SendResult("deferred", detail)

    def sync(self) -> None:
        """Nothing to do: a message is the relay's once it answered 250."""

    def close(self) -> None:
        conn = self._conn
        if conn is None:
            return
        conn.deadline = self._clock() + min(self.settings.timeout, 2.0)
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            self._drop()

    # --- one attempt --------------------------------------------------------------

    def _backoff(self, attempt: int, deadline: float, key: str, detail: str) -> bool:
        """Wait before attempt ``attempt``; False when that would pass the deadline."""
        s = self.settings
        delay = min(s.backoff_max, s.backoff_base * 2 ** (attempt - 2))
        if self._clock() + delay >= deadline:
            return False
        log.info("smtp: %s: %s; attempt %d in %.1fs", key, detail, attempt, delay)
        self._sleep(delay)
        return True

    def _late(self, deadline: float) -> bool:
        return self._clock() >= deadline - _LATE

    def _timed_out(self, key: str) -> SendResult:
        s = self.settings
        detail = f"{s.name} did not answer within {s.timeout:g}s"
        log.warning("smtp: %s deferred: %s", key, detail)
        self._drop()
        return SendResult("deferred", detail, stop="timeout")

    def _transaction(
        self,
        from_addr: str,
        to_addrs: list[str],
        wide: list[str],
        data: bytes,
        key: str,
        deadline: float,
    ) -> SendResult:
        conn = self._connection(deadline)
        options = ["SMTPUTF8"] if wide else []
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
        except smtplib.SMTPNotSupportedError:
            # Not failed: the same relay may offer it tomorrow, or another may.
            return SendResult(
                "deferred",
                f"the relay {self.settings.name} does not offer SMTPUTF8, which the "
                f"internationalised address {', '.join(wide)} needs (RFC 6531)",
            )
        except (smtplib.SMTPServerDisconnected, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            self._drop()
            raise _Passing(f"connection lost: {exc or type(exc).__name__}") from None
        if refused:  # some recipients took it: sending again would duplicate theirs
            words = "; ".join(f"{a}: {_words(c, t)}" for a, (c, t) in refused.items())
            return SendResult("sent", f"refused for some recipients: {words}")
        log.debug("smtp: %s sent", key)
        return SendResult("sent")

    def _connection(self, deadline: float) -> _SMTP | _SMTPS:
        if self._conn is not None and self._conn.sock is not None:
            self._conn.deadline = deadline
            return self._conn
        self._drop()
        s = self.settings
        context = ssl.create_default_context(cafile=s.cafile) if s.security != "none" else None
        helo = s.helo_name or _local_name()
        conn: _SMTP | _SMTPS
        if s.security == "tls":
            conn = _SMTPS(local_hostname=helo, context=context)
        else:
            conn = _SMTP(local_hostname=helo)
        conn.deadline, conn.clock = deadline, self._clock
        conn._host = s.host  # type: ignore[union-attr]  # STARTTLS checks this name
        try:
            conn.timeout = conn._left()
            code, said = conn.connect(s.host, s.port)
        except (smtplib.SMTPServerDisconnected, TimeoutError) as exc:
            conn.close()
            raise _Passing(f"connecting: {exc or type(exc).__name__}", connecting=True) from None
        except ssl.SSLError:
            conn.close()
            raise  # a certificate problem will not pass by waiting
        except OSError as exc:
            conn.close()
            raise _Passing(f"connecting: {exc}", unreachable=True, connecting=True) from None
        if code != 220:  # the greeting: 421 (busy, too many connections) or 554
            conn.close()
            self._raise_for_reply(code, said)
        self.connections += 1
        # Counted from the greeting: a connection refused meanwhile, while
        # this one is open, reads as the relay's limit.
        if self._relay is not None:
            self._relay.opened()
        try:
            if s.security == "starttls":
                conn.ehlo()
                conn.starttls(context=context)  # raises if not offered: never fall back to plain
                conn.ehlo()
            if s.username is not None and s.password is not None:
                conn.login(s.username, s.password)
        except smtplib.SMTPResponseException as exc:
            self._close_unused(conn)
            if 400 <= exc.smtp_code < 500:
                raise _Passing(_words(exc.smtp_code, exc.smtp_error), connecting=True) from None
            raise  # 5xx on AUTH or STARTTLS: the relay refuses us as configured
        except (smtplib.SMTPServerDisconnected, TimeoutError, ConnectionError) as exc:
            self._close_unused(conn)
            lost = f"connection lost: {exc or type(exc).__name__}"
            raise _Passing(lost, connecting=True) from None
        except BaseException:
            self._close_unused(conn)
            raise
        self._conn = conn
        return conn

    def _close_unused(self, conn: _SMTP | _SMTPS) -> None:
        conn.close()
        if self._relay is not None:
            self._relay.closed()

    def _raise_for_reply(self, code: int, text: bytes | str) -> NoReturn:
        if 400 <= code < 500:
            raise _Passing(_words(code, text), connecting=True)
        raise smtplib.SMTPConnectError(code, text)

    def _drop_if_closed(self) -> None:
        # smtplib closes the socket itself after a 421 (the server is leaving).
        if self._conn is not None and self._conn.sock is None:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            if self._relay is not None:
                self._relay.closed()
