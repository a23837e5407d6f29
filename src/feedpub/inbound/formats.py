"""The non-standard bounces: Exim's, qmail's, Yahoo's and old Exchange's
plain-text notices, and the like. flufl.bounce (the maintained detector,
Mailman's) finds the failed addresses; this module (the only one importing
it) adds what it does not say: the status code and diagnostic, read from the
text next to each address, and whether the notice is only a warning.

What flufl.bounce got wrong or missed in our corpus (tests/fixtures/inbound,
``test_flufl_bounce_alone`` holds it to this):

- Exim's delay warning ("Warning: message ... delayed 24 hours") is reported
  as a *permanent* failure of the address (its heuristics match the text
  Exim's bounces and warnings share): so a warning is recognised here first.
- Exchange 2003's plain NDR ("The following recipient(s) could not be
  reached: ... <host #5.1.1>") is not recognised at all: a last resort
  here reads an address next to a status code in a daemon's notice.
- It gives neither status codes nor diagnostics for any format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from feedpub.inbound.reports import STATUS, one_line, typed_parts

# Where a notice stops talking and the returned message starts.
_COPY_MARKERS = re.compile(
    r"^\s*(-{2,}\s*(Below this line is a copy|This is a copy|Original message|Forwarded message"
    r"|Undelivered message|The header of the original)|Original message follows)",
    re.IGNORECASE | re.MULTILINE,
)
# A notice that says the message is still being tried.
_WARNING = re.compile(
    r"has not yet been delivered|still being retried|THIS IS A WARNING|will (keep trying|"
    r"be retried|retry)|delivery attempts will continue|message not delivered yet"
    r"|^Subject: Warning: message \S+ delayed",
    re.IGNORECASE | re.MULTILINE,
)
_BASIC = re.compile(r"(?<![\d.#])([45]\d\d)(?=[\s:-])")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_DAEMONS = ("mailer-daemon", "mailer_daemon", "mail-daemon", "postmaster", "mailerdaemon")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery status notification|failure notice|mail delivery failed"
    r"|delivery failure|non-?delivery|delayed mail|could not send message|returned to sender"
    r"|message delayed|delivery (has )?failed",
    re.IGNORECASE,
)
# The window after an address in which its status code is looked for.
_WINDOW = 600
_TEXT_LIMIT = 64 * 1024


@dataclass(frozen=True)
class TextFailure:
    address: str  # lower-cased
    action: str  # failed | delayed
    status: str  # "5.1.1", "5.0.0" (a basic 5xx), "" (none found)
    diagnostic: str


def looks_like_bounce(message: Message) -> bool:
    """A daemon's notice: a null return path, a daemon sender, Exim's
    X-Failed-Recipients or a bounce's subject. Heuristics run on these
    only, so a reader's mail quoting an address is never taken for one."""
    if message.get("X-Failed-Recipients"):
        return True
    if str(message.get("Return-Path", "")).strip() == "<>":
        return True
    senders = getaddresses([str(v) for v in message.get_all("From", [])])
    for name, address in senders:
        local = address.partition("@")[0].lower()
        if local in _DAEMONS or "mail delivery" in name.lower():
            return True
    return bool(_BOUNCE_SUBJECT.search(str(message.get("Subject", ""))))


def notice_text(message: Message) -> str:
    """The human-readable text of a notice: its text/plain parts (not those
    of a returned message), cut where the returned copy starts."""
    chunks: list[str] = []
    for part, kind in typed_parts(message):
        if kind != "text/plain" or part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            charset = part.get_content_charset() or "utf-8"
            try:
                chunks.append(payload.decode(charset, "replace"))
            except LookupError:
                chunks.append(payload.decode("utf-8", "replace"))
    text = "\n".join(chunks)[:_TEXT_LIMIT].replace("\r\n", "\n")
    cut = _COPY_MARKERS.search(text)
    return text[: cut.start()] if cut else text


def _status_near(text: str, address: str) -> tuple[str, str]:
    """(status, diagnostic line) from the text right after ``address``."""
    at = text.lower().find(address)
    if at < 0:
        return "", ""
    window = text[at : at + _WINDOW]
    found = STATUS.search(window)
    basic = _BASIC.search(window)
    if found is None and basic is None:
        return "", ""
    if found is not None:
        status, where = ".".join(found.groups()), found.start()
    else:
        assert basic is not None
        status, where = f"{basic.group(1)[0]}.0.0", basic.start()
    start = window.rfind("\n", 0, where) + 1
    end = window.find("\n", where)
    return status, one_line(window[start : end if end >= 0 else None], 300)


def is_warning(message: Message, text: str) -> bool:
    subject = str(message.get("Subject", ""))
    return bool(_WARNING.search(text) or _WARNING.search(f"Subject: {subject}"))


def flufl_failures(message: Message) -> tuple[set[str], set[str]]:
    """(temporary, permanent) addresses as flufl.bounce finds them, lower-cased."""
    temporary, permanent = all_failures(message)
    return (
        {a.decode("ascii", "replace").lower() for a in temporary},
        {a.decode("ascii", "replace").lower() for a in permanent},
    )


def text_failures(message: Message, ignore: set[str]) -> tuple[list[TextFailure], str]:
    """The failed recipients of a non-standard notice, and which reader found
    them ("flufl.bounce", or "text": an address next to a status code, when
    flufl.bounce found none). ``ignore``: addresses that are never the
    failed recipient (ours, the notice's sender)."""
    text = notice_text(message)
    warning = is_warning(message, text)
    temporary, permanent = flufl_failures(message)
    detector = "flufl.bounce"
    if not temporary and not permanent:
        detector = "text"
        for address in dict.fromkeys(a.lower() for a in _ADDRESS.findall(text)):
            if address in ignore or address.partition("@")[0] in _DAEMONS:
                continue
            status, _ = _status_near(text, address)
            if status:
                (temporary if status.startswith("4") and warning else permanent).add(address)
    failures = []
    for address in sorted(temporary | permanent):
        status, diagnostic = _status_near(text, address)
        action = "delayed" if warning or address in temporary else "failed"
        failures.append(TextFailure(address, action, status, diagnostic))
    return failures, detector
