"""Packaging a rendered digest edition as one recipient's email message.

The HTML is inlined once per content variant (slow, in ``render``); what
differs per recipient (greeting, unsubscribe link) is left in it as slots that
``personalize`` fills by position (``slots.Personal``), never by searching
the text, so building a message per recipient costs microseconds.

Headers follow the 2024 Gmail/Yahoo bulk-sender rules: RFC 8058 one-click
unsubscribe (an https URI plus ``List-Unsubscribe-Post``), ``List-Id``
(RFC 2919), ``Message-ID`` on our own domain. The subject and display names
are RFC 2047-encoded by the standard library (``policy.SMTP``), bodies are
quoted-printable so no line exceeds 998 bytes. Write a message with its own
policy (``message.policy``), which keeps List-Unsubscribe as folded here.
"""

from __future__ import annotations

import html as htmllib
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Protocol
from urllib.parse import quote

from feedpub.config import DigestConfig, EmailConfig
from feedpub.digests.site import Site
from feedpub.digests.slots import Personal
from feedpub.text.rtl import ltr_html
from feedpub.text.uri import ascii_domain, iri_to_uri

# How messages are written. A header the standard library would fold by
# itself is folded as RFC 2047 encoded-words once one token is longer than a
# line, which for List-Unsubscribe (an https URL with a long token) makes the
# URIs unreadable to every client. That header is therefore set pre-folded
# with ``set_raw`` (one URI a line, each within the 998-byte limit), and
# refold_source="none" keeps such raw values as written. Headers set the
# usual way are still folded and encoded as before.
MAIL_POLICY = policy.SMTP.clone(refold_source="none")


class RenderedMail(Protocol):
    """What a message is built from (``render.RenderedEdition`` has it):
    ``html`` already inlined, both bodies split at the recipient slots."""

    @property
    def subject(self) -> str: ...

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
    """RFC 2919 List-Id: the digest's title as phrase, ``<name.domain>``."""
    label = f"{digest.name}.{ascii_domain(site.domain)}"
    # No quotes around the phrase: the encoder would put them inside the
    # encoded-word, where they no longer delimit anything.
    title = " ".join((digest.title or site.title).replace('"', "").split())
    return f"{title} <{label}>"


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
    message["Subject"] = rendered.subject
    message["From"] = digest.from_addr
    if digest.reply_to:
        message["Reply-To"] = digest.reply_to
    message["To"] = to
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id or make_msgid(domain=ascii_domain(site.domain))
    message["List-Id"] = list_id(digest, site)

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
