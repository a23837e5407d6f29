"""Packaging a rendered digest edition as one recipient's email message.
The per-recipient builder and the prepared, spliced one stay side by side:
a test holds them equal.

The HTML is inlined once per content variant (slow, in ``render``); what
differs per recipient (greeting, unsubscribe link) is left in it as slots that
``personalize`` fills by position (``slots.Personal``), never by searching
the text, so building a message per recipient costs microseconds.

At volume (``prepare_message``) the whole MIME message is also built once
per variant: its static header lines and body segments are encoded once, and
each recipient's message is those bytes joined with the recipient's header
values and quoted-printable slot values at known positions (``Prepared``).

Headers follow the 2024 Gmail/Yahoo bulk-sender rules: RFC 8058 one-click
unsubscribe (an https URI plus ``List-Unsubscribe-Post``), ``List-Id``
(RFC 2919), ``Message-ID`` on our own domain, ``Feedback-ID``. The subject,
display names and List-Id are RFC 2047-encoded and folded by ``headers``
(the standard library's folding can lose a space, see there); bodies are
quoted-printable so no line exceeds 998 bytes. Write a message with its own
policy (``message.policy``), which keeps those headers as folded here.
"""

from __future__ import annotations

import binascii
import contextlib
import html as htmllib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Protocol
from urllib.parse import quote

from feedpub.config import DigestConfig, EmailConfig
from feedpub.digests import headers
from feedpub.digests.site import Site
from feedpub.digests.slots import Personal
from feedpub.text.rtl import ltr_html
from feedpub.text.uri import ascii_domain, iri_to_uri

# How messages are written. A header the standard library would fold by
# itself is folded as RFC 2047 encoded-words once one token is longer than a
# line, which for List-Unsubscribe (an https URL with a long token) makes the
# URIs unreadable to every client. That header is therefore set pre-folded
# with ``set_raw`` (one URI a line, each within the 998-byte limit), and
# refold_source="none" keeps such raw values as written; so are the subject,
# the address headers and List-Id (``headers``). Headers set the usual way
# are still folded and encoded by the standard library.
MAIL_POLICY = policy.SMTP.clone(refold_source="none")


class RenderedMail(Protocol):
    """What a message is built from (``render.RenderedEdition`` has it):
    ``html`` already inlined, both bodies split at the recipient slots."""

    @property
    def subject(self) -> str: ...

    @property
    def slot(self) -> datetime: ...

    @property
    def html(self) -> Personal: ...

    @property
    def text(self) -> Personal: ...


def unsubscribe_url(email: EmailConfig, token: str | None, list_name: str = "") -> str:
    """The https one-click URL for ``token`` on the list (digest)
    ``list_name`` (both percent-encoded); without a token (no subscriber list
    yet) the mailto address, which needs none."""
    if token is None:
        return f"mailto:{email.unsubscribe_mailto}?subject=unsubscribe"
    url = email.unsubscribe_url.replace("{list}", quote(list_name, safe=""))
    return url.replace("{token}", quote(token, safe=""))


def preferences_url(email: EmailConfig, token: str | None) -> str:
    """The preferences page for ``token``; without one (the editors' copy)
    the page without a token, which asks for an address."""
    if token is None or not email.preferences_url:
        return email.preferences_url.replace("{token}", "")
    return email.preferences_url.replace("{token}", quote(token, safe=""))


def greeting(to: str) -> str:
    """«مرحباً <name>،» from the To display name, or a plain «مرحباً،»."""
    name = getaddresses([to])[0][0].strip() if to else ""
    return f"مرحباً {name}،" if name else "مرحباً،"


def personalize(
    rendered: RenderedMail,
    email: EmailConfig,
    *,
    to: str,
    unsubscribe_token: str | None,
    list_name: str = "",
    preferences_token: str | None = None,
) -> tuple[str, str]:
    """(html, text) with the recipient's values in their slots."""
    url = unsubscribe_url(email, unsubscribe_token, list_name)
    prefs = preferences_url(email, preferences_token)
    hello = greeting(to)
    html = rendered.html.fill(
        {
            "unsubscribe_url": htmllib.escape(url, quote=True),
            "preferences_url": htmllib.escape(prefs, quote=True),
            "greeting": str(ltr_html(hello)),
        }
    )
    text = rendered.text.fill({"unsubscribe_url": url, "preferences_url": prefs, "greeting": hello})
    return html, text


def list_id(digest: DigestConfig, site: Site) -> str:
    """RFC 2919 List-Id as written (``set_raw``): the digest's title as
    phrase, ``<name.domain>``."""
    label = f"{digest.name}.{ascii_domain(site.domain)}"
    # No quotes around the phrase: inside an encoded-word they no longer
    # delimit anything.
    title = " ".join((digest.title or site.title).replace('"', "").split())
    return headers.list_id(title, label)


def _feedback_id(digest: DigestConfig, rendered: RenderedMail, site: Site) -> str:
    """The edition's Feedback-ID (``headers.feedback_id``)."""
    return headers.feedback_id(digest.name, rendered.slot, ascii_domain(site.domain))


def _parsed_mailbox(value: str) -> tuple[str, str] | None:
    """(display name, address) of a one-mailbox header value such as
    «سامي <sami@example.com>»; None for anything else (a group, a list)."""
    parsed = _LF_POLICY.header_factory("To", value)
    if len(parsed.addresses) != 1:
        return None
    address = parsed.addresses[0]
    try:  # a name that held a broken encoded-word decodes to surrogates
        address.display_name.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return address.display_name, address.addr_spec


def mailbox_header(header: str, value: str) -> str:
    """The raw value of ``header: value`` (one mailbox): written by
    ``headers.mailbox``, so the name reads back exactly in every parser;
    else folded by the standard library."""
    found = _parsed_mailbox(value)
    raw = None if found is None else headers.mailbox(header, found[0], found[1])
    if raw is None:
        folded: str = MAIL_POLICY.header_factory(header, value).fold(policy=_LF_POLICY)
        raw = folded.partition(": ")[2].removesuffix("\n")
    return raw


def shared_headers(rendered: RenderedMail, digest: DigestConfig, site: Site) -> dict[str, str]:
    """The headers every recipient's copy of ``rendered`` shares, as written
    (``set_raw`` values): Subject, From, Reply-To (when set), List-Id and
    Feedback-ID."""
    found = {
        "Subject": headers.unstructured("Subject", rendered.subject),
        "From": mailbox_header("From", digest.from_addr),
    }
    if digest.reply_to:
        found["Reply-To"] = mailbox_header("Reply-To", digest.reply_to)
    found["List-Id"] = list_id(digest, site)
    found["Feedback-ID"] = _feedback_id(digest, rendered, site)
    return found


def _set_start(message: EmailMessage, shared: dict[str, str], to: str) -> None:
    """The shared headers in their order, To among them (a raw value)."""
    for name in ("Subject", "From", "Reply-To"):
        if name in shared:
            message.set_raw(name, shared[name])
    message.set_raw("To", to)


def build_message(
    rendered: RenderedMail,
    digest: DigestConfig,
    site: Site,
    email: EmailConfig,
    *,
    to: str,
    unsubscribe_token: str | None,
    now: datetime,
    message_id: str | None = None,
    preferences_token: str | None = None,
) -> EmailMessage:
    """One recipient's multipart/alternative message (text/plain first, so
    clients that prefer the last part they can show pick the HTML).

    ``now`` (tz-aware) becomes the Date header. Without an unsubscribe token
    List-Unsubscribe carries only the mailto URI and no List-Unsubscribe-Post:
    RFC 8058 one-click needs an https URI that identifies the recipient (so
    an http ``unsubscribe_url`` is listed but gets no List-Unsubscribe-Post
    either).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    html, text = personalize(
        rendered,
        email,
        to=to,
        unsubscribe_token=unsubscribe_token,
        list_name=digest.name,
        preferences_token=preferences_token,
    )

    message = EmailMessage(policy=MAIL_POLICY)
    shared = shared_headers(rendered, digest, site)
    _set_start(message, shared, mailbox_header("To", to))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id or make_msgid(domain=ascii_domain(site.domain))
    message.set_raw("List-Id", shared["List-Id"])
    message.set_raw("Feedback-ID", shared["Feedback-ID"])

    mailto = email.unsubscribe_mailto
    if unsubscribe_token is None:
        message.set_raw(
            "List-Unsubscribe", f"<{iri_to_uri(f'mailto:{mailto}?subject=unsubscribe')}>"
        )
    else:
        token = quote(unsubscribe_token, safe="")
        web = iri_to_uri(unsubscribe_url(email, unsubscribe_token, digest.name))
        by_mail = iri_to_uri(f"mailto:{mailto}?subject=unsubscribe%20{token}")
        message.set_raw("List-Unsubscribe", f"<{web}>,\n <{by_mail}>")
        if web.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the parts exist: making the message multipart moves every
    # Content-* header down into the first part.
    message["Content-Language"] = site.language
    return message


# --- the message built once per variant ------------------------------------------------


def to_header(name: str | None, address: str) -> bytes:
    """The whole ``To:`` line (LF-terminated) for ``name <address>``:
    written by ``headers.mailbox`` (the common case: an ASCII address),
    else by the standard library's folding."""
    name = " ".join((name or "").split())  # no line breaks into a header
    if not address.isascii():
        # RFC 6532: an internationalised address is UTF-8 as it is (the message
        # then needs SMTPUTF8), never an encoded-word inside it (a6@=?utf-8?...).
        if not name:
            return f"To: {address}\n".encode()
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')  # the name UTF-8 too
        return f'To: "{quoted}" <{address}>\n'.encode()
    raw = headers.mailbox("To", name, address)
    if raw is not None:
        return f"To: {raw}\n".encode("ascii")
    value = address
    if name:
        # An address the header parser cannot split goes without the name.
        with contextlib.suppress(ValueError, IndexError):
            value = str(Address(display_name=name, addr_spec=address))
    folded: str = MAIL_POLICY.header_factory("To", value).fold(policy=_LF_POLICY)
    return folded.encode("utf-8")


def quoted_printable(text: str) -> bytes:
    """``text`` (LF line ends) as quoted-printable lines joined by LF, no
    final line end; every line at most 75 characters so a soft line break
    may follow the last one within RFC 2045's 76."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True)


_LF_POLICY = MAIL_POLICY.clone(linesep="\n")
_SOFT_BREAK = b"=\n"


@dataclass(frozen=True)
class _Body:
    """One part's body as quoted-printable segments: ``static[0]``,
    slot ``slots[0]``, ``static[1]``, ... each boundary a soft line break,
    which decodes to nothing, so the decoded body is exactly the chunks and
    values joined."""

    static: tuple[bytes, ...]
    slots: tuple[str, ...]


def _body(personal: Personal) -> _Body:
    # As ``set_content`` does: LF line ends, and the final line end is the
    # one the MIME skeleton already has after its placeholder.
    chunks = [c.replace("\r\n", "\n").replace("\r", "\n") for c in personal.chunks]
    if chunks[-1].endswith("\n"):
        chunks[-1] = chunks[-1][:-1]
    return _Body(tuple(quoted_printable(c) for c in chunks), tuple(personal.slots))


@dataclass(frozen=True)
class Prepared:
    """A variant's message with its per-recipient places: the static byte
    segments of the whole message (written with LF line ends, converted once
    per line end asked for) and, between them, what each recipient fills, by
    position. Built by ``prepare_message``."""

    # head[0] To head[1] Date/Message-ID head[2] (List-Id, Feedback-ID) List-Unsubscribe
    # head[3] text body
    # head[4] html body head[5]
    head: tuple[bytes, ...]
    text: _Body
    html: _Body
    list_name: str
    sender: str  # the bare From address, for the SMTP envelope
    # Each URL split where the quoted token goes (prefix, suffix).
    unsubscribe_text: tuple[str, ...]
    unsubscribe_html: tuple[str, ...]
    unsubscribe_header: tuple[str, ...]
    unsubscribe_mailto: tuple[str, ...]
    preferences_text: tuple[str, ...] | None
    preferences_html: tuple[str, ...] | None
    _converted: dict[bytes, tuple[tuple[bytes, ...], _Body, _Body]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def _static(self, linesep: bytes) -> tuple[tuple[bytes, ...], _Body, _Body]:
        if linesep == b"\n":
            return self.head, self.text, self.html
        if linesep not in self._converted:

            def conv(body: _Body) -> _Body:
                return _Body(tuple(b.replace(b"\n", linesep) for b in body.static), body.slots)

            head = tuple(h.replace(b"\n", linesep) for h in self.head)
            self._converted[linesep] = (head, conv(self.text), conv(self.html))
        return self._converted[linesep]

    def fill(
        self,
        *,
        name: str | None,
        address: str,
        unsubscribe_token: str,
        preferences_token: str,
        message_id: str,
        date: str,
        linesep: bytes = b"\r\n",
    ) -> bytes:
        """One recipient's whole message with ``linesep`` line ends (CRLF
        on the wire, LF in a Maildir). ``date`` is an RFC 5322 date
        (``email.utils.format_datetime``)."""
        unsub = quote(unsubscribe_token, safe="")
        prefs = quote(preferences_token, safe="")
        hello = _greeting_of(name)
        text_values = {
            "greeting": hello,
            "unsubscribe_url": unsub.join(self.unsubscribe_text),
            "preferences_url": _join(self.preferences_text, prefs),
        }
        html_values = {
            "greeting": str(ltr_html(hello)),
            "unsubscribe_url": unsub.join(self.unsubscribe_html),
            "preferences_url": _join(self.preferences_html, prefs),
        }
        head, text, html = self._static(linesep)
        headers = b"".join(
            (
                to_header(name, address),
                self.head[1],  # LF: the whole run is converted below
                f"Date: {date}\nMessage-ID: {message_id}\n".encode("ascii"),
                self.head[2],
                b"List-Unsubscribe: <",
                unsub.join(self.unsubscribe_header).encode("ascii"),
                b">,\n <",
                unsub.join(self.unsubscribe_mailto).encode("ascii"),
                b">\n",
            )
        )
        parts = [head[0], _lines(headers, linesep), head[3]]
        _fill_body(parts, text, text_values, linesep)
        parts.append(head[4])
        _fill_body(parts, html, html_values, linesep)
        parts.append(head[5])
        return b"".join(parts)


def _lines(data: bytes, linesep: bytes) -> bytes:
    return data if linesep == b"\n" else data.replace(b"\n", linesep)


def _join(split: tuple[str, ...] | None, token: str) -> str:
    return "" if split is None else token.join(split)


def _greeting_of(name: str | None) -> str:
    name = " ".join((name or "").split())
    return f"مرحباً {name}،" if name else "مرحباً،"


def _fill_body(parts: list[bytes], body: _Body, values: dict[str, str], linesep: bytes) -> None:
    soft = _lines(_SOFT_BREAK, linesep)
    parts.append(body.static[0])
    for slot, static in zip(body.slots, body.static[1:], strict=True):
        value = _lines(quoted_printable(values.get(slot, "")), linesep)
        parts += (soft, value, soft, static)


def _split_at(value: str, marker: str) -> tuple[str, ...]:
    # Joined with the quoted token wherever the template has {token} (once,
    # as usual; twice or never works alike).
    return tuple(value.split(marker))


def prepare_message(
    rendered: RenderedMail, digest: DigestConfig, site: Site, email: EmailConfig
) -> Prepared:
    """The message of ``rendered`` for recipients with tokens, built once:
    ``Prepared.fill`` then makes each recipient's bytes, equal in content to
    ``build_message`` with the same values (the editors' copy, without a
    token, still goes through ``build_message``)."""
    nonce = secrets.token_hex(16)
    # Places in the skeleton, cut out below; a fresh nonce, so no text of the
    # skeleton (subject, titles) can hold one.
    place = [f"feedpubplace{nonce}{i}" for i in range(5)]
    token = f"feedpubtoken{nonce}"  # letters and digits: quoting keeps it
    web = iri_to_uri(unsubscribe_url(email, token, digest.name))
    skeleton = EmailMessage(policy=MAIL_POLICY)
    shared = shared_headers(rendered, digest, site)
    _set_start(skeleton, shared, place[0])
    skeleton.set_raw("Message-ID", place[1])
    skeleton.set_raw("List-Id", shared["List-Id"])
    skeleton.set_raw("Feedback-ID", shared["Feedback-ID"])
    skeleton.set_raw("List-Unsubscribe", place[2])
    if web.startswith("https://"):
        skeleton["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    skeleton.set_content(place[3], subtype="plain", charset="utf-8", cte="quoted-printable")
    skeleton.add_alternative(place[4], subtype="html", charset="utf-8", cte="quoted-printable")
    skeleton["Content-Language"] = site.language
    raw = skeleton.as_bytes(policy=_LF_POLICY)
    head: list[bytes] = []
    rest = raw
    for i, marker in enumerate(place):
        # The whole header line of a header place (its name and line end go
        # with the filled value), the bare placeholder of a body.
        before, found, rest = rest.partition(marker.encode("ascii"))
        if not found:
            raise ValueError("a message place was lost while building the skeleton")
        if i < 3:
            before = before[: before.rindex(b"\n") + 1] if b"\n" in before else b""
            rest = rest[1:]  # the line end of the place's header line
        head.append(before)
    head.append(rest)
    text_url = unsubscribe_url(email, token, digest.name)
    prefs_url = preferences_url(email, token) if email.preferences_url else None
    sender = getaddresses([digest.from_addr])[0][1]
    mailto = iri_to_uri(f"mailto:{email.unsubscribe_mailto}?subject=unsubscribe%20{token}")
    return Prepared(
        head=tuple(head),
        text=_body(rendered.text),
        html=_body(rendered.html),
        list_name=digest.name,
        sender=sender,
        unsubscribe_text=_split_at(text_url, token),
        unsubscribe_html=_split_at(htmllib.escape(text_url, quote=True), token),
        unsubscribe_header=_split_at(web, token),
        unsubscribe_mailto=_split_at(mailto, token),
        preferences_text=None if prefs_url is None else _split_at(prefs_url, token),
        preferences_html=(
            None if prefs_url is None else _split_at(htmllib.escape(prefs_url, quote=True), token)
        ),
    )
