"""The two standard reports, read with the standard library's parser:
delivery status notifications (RFC 3464, and RFC 6533's UTF-8 variant) and
abuse reports (ARF, RFC 5965). Both are ``multipart/report``: a human part,
a machine part of header blocks, and the original message (whole, as
``message/rfc822``, or its headers, as ``text/rfc822-headers``).

Written by hand because flufl.bounce, the maintained detector, returns only
the failed addresses: not the status code, the diagnostic or the original
message, which the rules and the delivery lookup need. It still reads what
the standard formats cannot (``formats``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from weakref import WeakKeyDictionary

# An enhanced status code (RFC 3463): class.subject.detail.
STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_ADDRESS = re.compile(r"[^\s<>@;,\"']+@[^\s<>@;,\"']+\.[^\s<>@;,\"'.]+")


@dataclass(frozen=True)
class Failure:
    """One recipient block of a delivery status notification."""

    address: str  # lower-cased; "" when the block names none we can read
    action: str  # failed | delayed | delivered | relayed | expanded (lower-cased)
    status: str  # "5.1.1"; "" when the block has none
    diagnostic: str  # one line


@dataclass(frozen=True)
class Feedback:
    """The machine part of an abuse report."""

    feedback_type: str  # abuse | fraud | virus | other | not-spam | auth-failure ...
    user_agent: str
    recipients: tuple[str, ...]  # Original-Rcpt-To, lower-cased (often absent: redacted)
    mail_from: str  # Original-Mail-From (our envelope sender, hence the VERP)


def one_line(value: object, limit: int = 500) -> str:
    """A header value or text as one line of at most ``limit`` characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bare_address(value: str) -> str:
    """The address in ``rfc822; <a@b>``, ``<a@b>`` or ``Name <a@b>``, lower-cased."""
    found = _ADDRESS.search(value)
    return found.group(0).strip(".").lower() if found else ""


def status_code(value: str) -> str:
    found = STATUS.search(value)
    return ".".join(found.groups()) if found else ""


# Each message's parts and their types, worked out once however many
# readers ask (the parser's content-type lookups were a tenth of the job).
_PARTS: WeakKeyDictionary[Message, list[tuple[Message, str]]] = WeakKeyDictionary()


def typed_parts(message: Message) -> list[tuple[Message, str]]:
    """``report_parts`` with each part's content type."""
    found = _PARTS.get(message)
    if found is None:
        found = [(part, part.get_content_type()) for part in report_parts(message)]
        _PARTS[message] = found
    return found


def report_parts(message: Message) -> Iterator[Message]:
    """The parts of a message without descending into attached messages: a
    returned original's own parts are not the report's."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        yield part
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a machine-readable part. The parser splits
    ``message/delivery-status`` into blocks; other subtypes (RFC 6533's
    ``message/global-delivery-status``, ``message/feedback-report``) come as
    one message whose body holds the rest of the blocks."""
    payload = part.get_payload()
    if isinstance(payload, str):
        return _parse_blocks(payload)
    blocks: list[Message] = []
    for block in payload if isinstance(payload, list) else []:
        if not isinstance(block, Message):
            continue
        blocks.append(block)
        rest = block.get_payload()
        if isinstance(rest, str) and rest.strip():
            blocks.extend(_parse_blocks(rest))
    return blocks


def _parse_blocks(text: str) -> list[Message]:
    parser = HeaderParser()
    chunks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))
    return [parser.parsestr(chunk.strip("\n") + "\n") for chunk in chunks if chunk.strip()]


def delivery_status(message: Message) -> list[Failure] | None:
    """The per-recipient blocks of a DSN; None when the message has no
    delivery-status part at all."""
    found = False
    failures: list[Failure] = []
    for part, kind in typed_parts(message):
        if kind not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        found = True
        for block in _blocks(part):
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            action = block.get("Action")
            if recipient is None and action is None:
                continue  # the per-message block (Reporting-MTA, Arrival-Date)
            diagnostic = one_line(block.get("Diagnostic-Code", ""))
            # "smtp; 550 5.1.1 ..." -> the text after the type
            diagnostic = diagnostic.partition(";")[2].strip() or diagnostic
            status = status_code(str(block.get("Status", ""))) or status_code(diagnostic)
            failures.append(
                Failure(
                    address=bare_address(str(recipient or "")),
                    action=one_line(action or "").split(" ")[0].lower(),
                    status=status,
                    diagnostic=diagnostic,
                )
            )
    return failures if found else None


def feedback_report(message: Message) -> Feedback | None:
    """The machine part of an ARF report, None when there is none."""
    if message.get_content_type() != "multipart/report":
        return None
    for part, kind in typed_parts(message):
        if kind != "message/feedback-report":
            continue
        fields: dict[str, list[str]] = {}
        for block in _blocks(part):
            for name, value in block.items():
                fields.setdefault(name.lower(), []).append(str(value))
        recipients = (bare_address(v) for v in fields.get("original-rcpt-to", []))
        return Feedback(
            feedback_type=one_line((fields.get("feedback-type") or ["abuse"])[0]).lower(),
            user_agent=one_line((fields.get("user-agent") or [""])[0], 200),
            recipients=tuple(dict.fromkeys(r for r in recipients if r)),
            mail_from=bare_address((fields.get("original-mail-from") or [""])[0]),
        )
    return None


def original_headers(message: Message) -> Message | None:
    """The headers of the returned original message, when the report
    carries it (``message/rfc822`` or ``text/rfc822-headers``)."""
    for part, kind in typed_parts(message):
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif kind in ("text/rfc822-headers", "text/global-headers"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode("utf-8", "replace")
                return HeaderParser().parsestr(text.replace("\r\n", "\n"))
    return None
