"""What one inbound message is: a pure function of its bytes and the site's
keys (no store, no clock).

In order, the first that fits:

1. a complaint: an ARF report (RFC 5965) of type abuse, fraud, virus or other;
2. a bounce: a delivery status notification (RFC 3464) with a failed or
   delayed recipient, else a daemon's non-standard notice (``formats``);
3. an unsubscribe carrying a genuine token of ours (the ``mailto:`` of
   ``List-Unsubscribe``), in its subject or at the start of its body;
4. an automatic reply (RFC 3834's ``Auto-Submitted``, the common
   ``X-Autoreply`` family, an out-of-office subject), or a DSN that reports
   only success: nothing to do;
5. an unsubscribe by a bare mail to the unsubscribe address (the rules act
   on it only when the sender is a subscriber);
6. anything else: kept in the mailbox for a person.

Each step is one reader in ``READERS``, the registry of kinds of inbound
mail; the first that recognises a message decides.

The delivery a report answers is named by the VERP address it was sent to
(or that appears anywhere in it: the returned message's Return-Path, ARF's
Original-Mail-From), else by the returned message's Message-ID, which the
caller looks up; the failed address is the last resort.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from feedpub.inbound import formats, reports
from feedpub.inbound.mailto import read_unsubscribe
from feedpub.inbound.verp import VerpReader
from feedpub.model import FeedbackKind, InboundKind

# Where a report names the address it was sent to, most specific first.
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
_COMPLAINTS = ("abuse", "fraud", "virus", "other")
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[ -]?(reply|response)|auto:|out of (the )?office"
    r"|autosvar|abwesenheit|réponse automatique|respuesta automática|رد تلقائي|رد آلي)",
    re.IGNORECASE,
)
_MESSAGE_ID = re.compile(r"^(?:Message-ID|X-Original-Message-ID):[ \t]*(<[^>\s]+>)", re.I | re.M)
_BODY_SCAN = 4096


@dataclass(frozen=True)
class Recipient:
    """One address a report speaks of, and what it says."""

    address: str  # lower-cased; "" when the report does not name it (redacted)
    kind: FeedbackKind
    status: str = ""
    diagnostic: str = ""


@dataclass(frozen=True)
class Classified:
    kind: InboundKind
    detector: str  # which reader decided: rfc3464, rfc5965, flufl.bounce, text, rfc3834 ...
    message_id: str = ""
    sender: str = ""  # the From address, lower-cased
    subject: str = ""  # decoded, one line
    recipients: tuple[Recipient, ...] = ()  # bounces and complaints
    list_name: str | None = None  # an unsubscribe's list; None: every list
    unsubscriber: str = ""  # an unsubscribe's address
    by_token: bool = False  # the unsubscribe carried a genuine token
    verp_delivery: int | None = None
    original_ids: tuple[str, ...] = ()  # Message-IDs of the returned original
    note: str = ""  # e.g. "feedback type not-spam", "success notice"


@dataclass(frozen=True)
class Keys:
    """What recognising our own mail needs: the token secret, the digests
    (the lists an unsubscribe token may name), the unsubscribe address and
    ``delivery.return_path`` (None: no VERP)."""

    secret: bytes
    lists: tuple[str, ...]
    unsubscribe_address: str
    return_path: str | None = None
    verp: VerpReader | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.return_path and self.verp is None:
            object.__setattr__(self, "verp", VerpReader(self.secret, self.return_path))


def decoded(value: object) -> str:
    """A header decoded from RFC 2047 words, as one line."""
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, ValueError, UnicodeError):
        text = str(value)
    return reports.one_line(text, 300)


def _addresses(message: Message, names: Sequence[str]) -> list[str]:
    values = [str(v) for name in names for v in message.get_all(name, [])]
    return [a.strip().lower() for _, a in getaddresses(values) if a]


@dataclass(frozen=True)
class Seen:
    """A message as every reader is handed it: parsed once."""

    message: Message
    data: bytes
    keys: Keys
    base: Classified  # kind "other", with its Message-ID, sender and subject
    verp: int | None  # the delivery its VERP address names, if any


# A reader recognises one kind of message: its classification, or None to
# let the next reader look.
Reader = Callable[[Seen], "Classified | None"]


def classify(data: bytes, keys: Keys) -> Classified:
    """Classify one message (its raw bytes): the first reader of ``READERS``
    that recognises it decides; none does: kept for a person."""
    message = message_from_bytes(data)
    senders = _addresses(message, ("From",))
    base = Classified(
        "other",
        "",
        message_id=reports.one_line(message.get("Message-ID", ""), 300),
        sender=senders[0] if senders else "",
        subject=decoded(message.get("Subject")),
    )
    seen = Seen(message, data, keys, base, _verp_delivery(data, keys))
    for reader in READERS:
        found = reader(seen)
        if found is not None:
            return found
    return base


def _complaint_report(seen: Seen) -> Classified | None:
    feedback = reports.feedback_report(seen.message)
    return None if feedback is None else _complaint(seen.message, feedback, seen.verp, seen.base)


def _delivery_status(seen: Seen) -> Classified | None:
    statuses = reports.delivery_status(seen.message)
    if statuses is None or not any(s.address for s in statuses):
        return None
    found = _bounce_recipients([(s.address, s.action, s.status, s.diagnostic) for s in statuses])
    if not found:
        return replace(seen.base, kind="auto_reply", detector="rfc3464", note="success notice")
    return _bounced(seen, found, "rfc3464")


def _daemon_notice(seen: Seen) -> Classified | None:
    if not formats.looks_like_bounce(seen.message):
        return None
    ignore = {*_own_addresses(seen.keys), seen.base.sender}
    failures, detector = formats.text_failures(seen.message, ignore)
    found = _bounce_recipients([(f.address, f.action, f.status, f.diagnostic) for f in failures])
    return _bounced(seen, found, detector) if found else None


def _bounced(seen: Seen, found: tuple[Recipient, ...], detector: str) -> Classified:
    return replace(
        seen.base,
        kind="bounce",
        detector=detector,
        recipients=found,
        verp_delivery=seen.verp,
        original_ids=_original_ids(seen.message),
    )


def _token_unsubscribe(seen: Seen) -> Classified | None:
    keys = seen.keys
    token = read_unsubscribe(keys.secret, seen.base.subject, keys.lists) or read_unsubscribe(
        keys.secret, _first_text(seen.message), keys.lists
    )
    if token is None:
        return None
    return replace(
        seen.base,
        kind="unsubscribe",
        detector="mailto-token",
        list_name=token.list_name,
        unsubscriber=token.address,
        by_token=True,
    )


def _unread_notice(seen: Seen) -> Classified | None:
    # A daemon's notice naming no recipient anyone can read: a person's job.
    if not formats.looks_like_bounce(seen.message):
        return None
    return replace(seen.base, note="a delivery notice naming no recipient")


def _automatic_reply(seen: Seen) -> Classified | None:
    auto = _auto_reply(seen.message, seen.base.subject)
    return replace(seen.base, kind="auto_reply", detector=auto) if auto else None


def _bare_unsubscribe(seen: Seen) -> Classified | None:
    wanted = seen.keys.unsubscribe_address.lower()
    sender = seen.base.sender
    if wanted and sender and wanted in _addresses(seen.message, _ENVELOPE_HEADERS):
        return replace(seen.base, kind="unsubscribe", detector="mailto-sender", unsubscriber=sender)
    return None


# The readers, in the order of the module docstring: the one registry of
# kinds of inbound mail. A provider's own format is one reader function and
# one line here (before the readers it must win over).
READERS: list[Reader] = [
    _complaint_report,
    _delivery_status,
    _daemon_notice,
    _token_unsubscribe,
    _unread_notice,
    _automatic_reply,
    _bare_unsubscribe,
]


def _bounce_recipients(
    failures: Sequence[tuple[str, str, str, str]],
) -> tuple[Recipient, ...]:
    """Failed and delayed recipients (one each, the most severe kept);
    successes (delivered, relayed, expanded) are no bounce."""
    found: dict[str, Recipient] = {}
    for address, action, status, diagnostic in failures:
        if action.startswith("delay"):
            kind: FeedbackKind = "delayed"
        elif action.startswith(("fail", "error")):  # "error": OpenSMTPD's spelling
            # No status: a failure nobody said was passing counts as permanent.
            kind = "soft" if status.startswith("4") else "hard"
            status = status or "5.0.0"
        else:
            continue
        known = found.get(address)
        if known is None or _severity(kind) > _severity(known.kind):
            found[address] = Recipient(address, kind, status, diagnostic)
    return tuple(found.values())


def _severity(kind: FeedbackKind) -> int:
    return {"delayed": 0, "soft": 1, "hard": 2}.get(kind, 0)


def _complaint(
    message: Message, feedback: reports.Feedback, verp: int | None, base: Classified
) -> Classified:
    if feedback.feedback_type not in _COMPLAINTS:
        return replace(
            base, kind="other", detector="rfc5965", note=f"feedback type {feedback.feedback_type}"
        )
    addresses = list(feedback.recipients)
    # Microsoft's JMRP names the recipient in a header of its own.
    addresses += _addresses(message, ("X-HmXmrOriginalRecipient",))
    original = reports.original_headers(message)
    if not addresses and original is not None:
        addresses += _addresses(original, ("To",))
    readable = [a for a in dict.fromkeys(addresses) if _plausible(a)]
    recipients = tuple(Recipient(a, "complaint", diagnostic=detail_of(feedback)) for a in readable)
    if not recipients:
        recipients = (Recipient("", "complaint", diagnostic=detail_of(feedback)),)
    return replace(
        base,
        kind="complaint",
        detector="rfc5965",
        recipients=recipients,
        verp_delivery=verp,
        original_ids=_original_ids(message),
    )


def detail_of(feedback: reports.Feedback) -> str:
    return reports.one_line(f"{feedback.feedback_type} ({feedback.user_agent})", 200)


def _plausible(address: str) -> bool:
    local, at, domain = address.partition("@")
    return bool(local and at and "." in domain and "redacted" not in address)


def _verp_delivery(data: bytes, keys: Keys) -> int | None:
    if keys.verp is None:
        return None
    # The first genuine one: the envelope headers (Delivered-To, To) lead the
    # message; else the returned original's Return-Path, ARF's
    # Original-Mail-From ... One scan of the bytes, no header parsing.
    return keys.verp.search_bytes(data)


def _original_ids(message: Message) -> tuple[str, ...]:
    """The Message-IDs that may be the original's, most reliable first."""
    found: list[str] = []
    original = reports.original_headers(message)
    if original is not None and original.get("Message-ID"):
        found.append(str(original["Message-ID"]).strip())
    for part, kind in reports.typed_parts(message):
        if kind == "message/delivery-status" and part.is_multipart():
            for block in part.get_payload():  # Gmail's X-Original-Message-ID
                if isinstance(block, Message):
                    said = str(block.get("X-Original-Message-ID", ""))
                    found += re.findall(r"<[^>\s]+>", said)
        elif kind == "text/plain" and not part.is_multipart():
            found += _MESSAGE_ID.findall(str(part.get_payload()))
    for name in ("In-Reply-To", "References"):
        found += re.findall(r"<[^>\s]+>", str(message.get(name, "")))
    return tuple(dict.fromkeys(i for i in found if i))


def _own_addresses(keys: Keys) -> set[str]:
    own = {keys.unsubscribe_address.lower()}
    if keys.return_path:
        own.add(keys.return_path.lower())
    return own


def _first_text(message: Message) -> str:
    for part, kind in reports.typed_parts(message):
        if kind == "text/plain" and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload[:_BODY_SCAN].decode("utf-8", "replace")
            return ""
    return ""


def _auto_reply(message: Message, subject: str) -> str:
    """Which sign says ``message`` is an automatic reply; "" when none does."""
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted and not submitted.startswith("no"):
        return "rfc3834"
    if any(message.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return "x-autoreply"
    if str(message.get("Precedence", "")).strip().lower() == "auto_reply":
        return "precedence"
    if _AUTO_SUBJECT.search(subject):
        return "subject"
    return ""
