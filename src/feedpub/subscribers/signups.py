"""The sign-up mailer: what the web form queued, mailed after the page has
answered, so the answer is the same, in the same time, whatever the
address's state (issue 20: active and unknown addresses once answered in 2
and 7 ms, which told a stranger who subscribes).

For each queued sign-up, the address's state decides the mail, and nothing
an anonymous form sent changes a stored subscriber:

- unknown: a pending subscriber is stored, and the confirmation mail sent;
- active: the "you are already subscribed" mail, with the preferences link;
- pending, unsubscribed, bounced: the confirmation mail only (confirming it,
  the mailbox's owner asks for the digests the sign-up chose).

At most ``confirm_per_hour`` mails per address per hour: further sign-ups
are recorded ``limited`` and mail nothing. Sign-ups, and pending subscribers
never confirmed, are removed after ``pending_expiry``.

``feedpub run`` runs it as the ``signups`` job; ``feedpub serve`` in a
thread woken by each sign-up (``MailerLoop``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from feedpub.delivery.sender import Sender
from feedpub.model import Signup, SignupRequest, SignupState, Subscriber
from feedpub.tokens import make_dated_token, make_token, preferences_scope

log = logging.getLogger(__name__)

BATCH = 50
# A mailer that claimed a sign-up and died: another takes it over after this.
STALE_CLAIM = timedelta(minutes=10)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class SignupSettings:
    """``subscribers:`` as the mailer uses it."""

    confirm_expiry: timedelta = timedelta(hours=48)
    confirm_per_hour: int = 1
    pending_expiry: timedelta = timedelta(days=7)
    confirm_url: str = ""  # template with {token}
    preferences_url: str = ""  # template with {token}


class SignupMail(Protocol):
    """The two mails (``digests.signup_mail`` writes them)."""

    def confirm(
        self, request: SignupRequest, link: str, expires: datetime, now: datetime
    ) -> EmailMessage: ...

    def already(self, request: SignupRequest, link: str, now: datetime) -> EmailMessage: ...


class SignupStore(Protocol):
    """What the mailer needs of the store (``store.SqlStore`` has it)."""

    def claim_signups(self, now: datetime, stale_before: datetime, limit: int) -> list[Signup]: ...
    def signup_mails_since(self, email: str, since: datetime) -> int: ...
    def finish_signup(self, signup_id: int, state: SignupState, now: datetime) -> None: ...
    def add_pending_subscriber(self, request: SignupRequest, now: datetime) -> bool: ...
    def get_subscriber(self, email: str) -> Subscriber | None: ...
    def expire_signups(
        self, *, signups_before: datetime, pending_before: datetime
    ) -> tuple[int, int]: ...


@dataclass(frozen=True)
class SignupReport:
    """One pass of the mailer (a job's report)."""

    confirm: int = 0
    already: int = 0
    limited: int = 0
    failed: int = 0
    deferred: int = 0
    expired: int = 0  # sign-ups removed
    expired_pending: int = 0  # pending subscribers removed

    def summary(self) -> str:
        if not any(self.counts().values()):
            return "signups: nothing queued"
        return (
            f"signups: {self.confirm} confirmation mails, {self.already} already-subscribed "
            f"mails, {self.limited} over the hourly limit, {self.failed} refused, "
            f"{self.deferred} deferred; expired {self.expired} sign-ups and "
            f"{self.expired_pending} pending subscribers"
        )

    def counts(self) -> dict[str, int]:
        return {
            "confirm": self.confirm,
            "already": self.already,
            "limited": self.limited,
            "failed": self.failed,
            "deferred": self.deferred,
            "expired": self.expired,
            "expired_pending": self.expired_pending,
        }

    def failure(self) -> str | None:
        if self.deferred:
            return f"{self.deferred} sign-up mails deferred (the backend did not take them)"
        return None


def fill(template: str, token: str) -> str:
    return template.replace("{token}", token)


class SignupMailer:
    """Mails what the sign-up queue holds, through ``sender`` (opened on
    the first mail of a pass, closed after it)."""

    def __init__(
        self,
        store: SignupStore,
        mail: SignupMail,
        *,
        open_sender: Callable[[], Sender],
        secret: Callable[[], bytes],
        settings: SignupSettings,
    ) -> None:
        self._store = store
        self._mail = mail
        self._open_sender = open_sender
        self._secret = secret
        self._settings = settings

    def run(self, now: datetime) -> SignupReport:
        """Expire what is old, then mail every queued sign-up."""
        keep = max(self._settings.pending_expiry, self._settings.confirm_expiry, HOUR)
        expired, expired_pending = self._store.expire_signups(
            signups_before=now - keep, pending_before=now - self._settings.pending_expiry
        )
        tally: dict[str, int] = {}
        sender: Sender | None = None
        try:
            while True:
                claimed = self._store.claim_signups(now, now - STALE_CLAIM, BATCH)
                if not claimed:
                    break
                for signup in claimed:
                    if sender is None:
                        sender = self._open_sender()
                    state = self._one(signup, sender, now)
                    key = "deferred" if state == "queued" else state
                    tally[key] = tally.get(key, 0) + 1
                if tally.get("deferred"):
                    break  # the backend is failing: the rest waits for the next pass
        finally:
            if sender is not None:
                sender.close()
        return SignupReport(
            confirm=tally.get("confirm", 0),
            already=tally.get("already", 0),
            limited=tally.get("limited", 0),
            failed=tally.get("failed", 0),
            deferred=tally.get("deferred", 0),
            expired=expired,
            expired_pending=expired_pending,
        )

    def _one(self, signup: Signup, sender: Sender, now: datetime) -> SignupState:
        request, store = signup.request, self._store
        if store.signup_mails_since(request.email, now - HOUR) >= self._settings.confirm_per_hour:
            store.finish_signup(signup.id, "limited", now)
            return "limited"
        current = store.get_subscriber(request.email)
        message: EmailMessage
        state: SignupState
        if current is not None and current.status == "active":
            token = make_token(
                self._secret(), "preferences", preferences_scope(current.token), request.email
            )
            message = self._mail.already(request, fill(self._settings.preferences_url, token), now)
            state = "already"
        else:
            if current is None:
                store.add_pending_subscriber(request, now)
            expires = now + self._settings.confirm_expiry
            token = make_dated_token(self._secret(), "confirm", signup.id, request.email, expires)
            link = fill(self._settings.confirm_url, token)
            message = self._mail.confirm(request, link, expires, now)
            state = "confirm"
        result = sender.send(message, f"signup-{signup.id}-{request.email}")
        if result.status in ("sent", "duplicate"):
            sender.sync()  # on disk (the outbox) before it is recorded as mailed
            store.finish_signup(signup.id, state, now)
            return state
        if result.status == "failed":
            log.warning("signups: %s refused: %s", request.email, result.detail)
            store.finish_signup(signup.id, "failed", now)
            return "failed"
        log.warning("signups: mail to %s deferred: %s", request.email, result.detail)
        store.finish_signup(signup.id, "queued", now)
        return "queued"


class MailerLoop:
    """``feedpub serve``'s mailer: a thread that runs the mailer when a
    sign-up is queued (``wake``) and every ``every`` seconds (expiry, and
    sign-ups another process queued)."""

    def __init__(
        self,
        run: Callable[[], object],
        *,
        every: float = 60.0,
    ) -> None:
        self._run = run
        self._every = every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="feedpub-signups", daemon=True)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._every)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._run()
            except Exception as exc:  # one line (no traceback: no token in logs); next pass retries
                log.error("signups: the mailer failed: %s", " ".join(str(exc).split()) or exc)
