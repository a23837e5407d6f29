"""The sign-up mails, in the digests' look (right to left, an HTML part and
a text part, the digests' header writing): the confirmation link, and "you
are already subscribed" with the preferences link. ``subscribers.signups``
decides which goes where; this only writes them.

The name typed into the form is not used: anybody can type any address,
and the mail must not greet a stranger with words a third party chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from feedpub.config import EmailConfig
from feedpub.digests import headers
from feedpub.digests.message import MAIL_POLICY, mailbox_header
from feedpub.digests.site import Site, environment
from feedpub.model import SignupRequest
from feedpub.text.rtl import plural, shape_digits
from feedpub.text.uri import ascii_domain

RLM = "\u200f"
HOURS = {
    "zero": "أقل من ساعة",
    "one": "ساعة واحدة",
    "two": "ساعتين",
    "few": "{n} ساعات",
    "many": "{n} ساعة",
    "other": "{n} ساعة",
}


@dataclass(frozen=True)
class SignupMailWriter:
    """``subscribers.signups.SignupMail``: writes both mails for ``site``,
    from ``sender`` (``subscribers.from``, else the first digest's From)."""

    site: Site
    email: EmailConfig
    sender: str
    lists: tuple[tuple[str, str], ...] = ()  # (name, title) of each digest

    def confirm(
        self, request: SignupRequest, link: str, expires: datetime, now: datetime
    ) -> EmailMessage:
        hours = max(0, int((expires - now) / timedelta(hours=1)))
        valid = plural(hours, HOURS, self.email.locale, self.email.digits)
        return self._message(
            request,
            now,
            kind="confirm",
            subject=f"أكّد اشتراكك في {self.site.title}",
            link=link,
            valid=valid,
        )

    def already(self, request: SignupRequest, link: str, now: datetime) -> EmailMessage:
        return self._message(
            request,
            now,
            kind="already",
            subject=f"أنت مشترك في {self.site.title}",
            link=link,
            valid="",
        )

    def _message(
        self,
        request: SignupRequest,
        now: datetime,
        *,
        kind: str,
        subject: str,
        link: str,
        valid: str,
    ) -> EmailMessage:
        titles = dict(self.lists)
        chosen = [titles.get(d, d) for d in request.digests] or list(titles.values())
        context = {
            "kind": kind,
            "lang": self.site.language,
            "subject": subject,
            "site_title": self.site.title,
            "site_url": self.site.url,
            "address": request.email,
            "link": link,
            "valid": valid,
            "lists": chosen,
            "postal_address": self.email.postal_address,
            "requested": shape_digits(
                request.requested.astimezone(self.site.timezone).strftime("%Y-%m-%d %H:%M"),
                self.email.digits,
            ),
        }
        env = environment()
        html = env.get_template("digests/signup.html.j2").render(**context)
        text = env.get_template("digests/signup.txt.j2").render(**context)
        # Every prose line opens with RLM, as the digests' text part does.
        text = "\n".join(
            RLM + line if line and not line.startswith("http") else line
            for line in text.split("\n")
        )
        message = EmailMessage(policy=MAIL_POLICY)
        message.set_raw("Subject", headers.unstructured("Subject", subject))
        message.set_raw("From", mailbox_header("From", self.sender))
        message.set_raw("To", mailbox_header("To", request.email))
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid("signup", domain=ascii_domain(self.site.domain))
        # RFC 3834: no out-of-office reply to this one.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        message["Content-Language"] = self.site.language
        return message
