"""The mail that comes back: delivery reports, spam complaints, unsubscribes
by mail and automatic replies, read from the site's bounce mailbox.

- ``verp``: each message's envelope sender ``bounces+<signed delivery id>@``
  (``envelope_sender``, called by delivery's composer) and reading it back.
- ``mailto``: the signed token in the subject of the ``mailto:`` of
  ``List-Unsubscribe``.
- ``reports`` (RFC 3464 and RFC 5965, by hand), ``formats`` (the only user of
  flufl.bounce: the non-standard notices), ``classify``: what a message is,
  a pure function of its bytes.
- ``rules``: what it does to a subscriber, plain functions over values.
- ``mailbox`` (the ``Mailbox`` protocol, a Maildir) and ``imap`` (an IMAP
  folder, imaplib): where mail is read and where handled mail goes.
- ``job``: ``process`` (one mailbox read and acted on), ``record_refusal``
  for an SMTP 5xx while sending, ``list_kept``.
- ``loop``: ``MailLoop``, what the composition root calls: the mailbox job,
  refusals after a delivery, pausing a digest past its rates, VERP senders.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from feedpub.config import InboundConfig
from feedpub.config import secrets as config_secrets
from feedpub.inbound.classify import Classified, Keys, classify
from feedpub.inbound.imap import ImapBox, ImapSettings
from feedpub.inbound.job import (
    InboundReport,
    InboundStore,
    SubscriberStatusWriter,
    apply_effect,
    kept_line,
    list_kept,
    message_key,
    process,
    record_refusal,
)
from feedpub.inbound.loop import MailLoop
from feedpub.inbound.mailbox import InboundError, Incoming, Mailbox, MaildirBox
from feedpub.inbound.rules import Effect, Facts, Rules, Verdict, decide, pause_reason, refusal_event
from feedpub.inbound.verp import envelope_sender

__all__ = [
    "Classified",
    "Effect",
    "Facts",
    "ImapBox",
    "ImapSettings",
    "InboundError",
    "InboundReport",
    "InboundStore",
    "Incoming",
    "Keys",
    "MailLoop",
    "Mailbox",
    "MaildirBox",
    "Rules",
    "SubscriberStatusWriter",
    "Verdict",
    "apply_effect",
    "classify",
    "decide",
    "envelope_sender",
    "kept_line",
    "list_kept",
    "message_key",
    "open_mailbox",
    "pause_reason",
    "process",
    "record_refusal",
    "refusal_event",
    "rules_for",
]


def rules_for(config: InboundConfig) -> Rules:
    """The rules of ``inbound.soft_bounce_limit`` and ``soft_bounce_days``."""
    return Rules(config.soft_bounce_limit, timedelta(days=config.soft_bounce_days))


def open_mailbox(config: InboundConfig, environ: Mapping[str, str] | None = None) -> Mailbox:
    """The configured mailbox, open (an IMAP login happens here). Raises
    ``InboundError`` naming the key or the server; ``ConfigError`` when the
    IMAP password is not provided."""
    if config.maildir is not None:
        return MaildirBox(config.maildir)
    if config.imap is None:
        raise InboundError("inbound: no mailbox configured (inbound.maildir or inbound.imap)")
    imap = config.imap
    password = config_secrets.secret(
        config_secrets.IMAP_PASSWORD, os.environ if environ is None else environ
    )
    if password is None:
        raise InboundError(
            f"inbound.imap: no password for {imap.username}@{imap.host}: set "
            "$FEEDPUB_IMAP_PASSWORD or the systemd credential feedpub_imap_password"
        )
    return ImapBox(
        ImapSettings(
            host=imap.host,
            port=imap.port,
            security=imap.security,
            username=imap.username,
            password=password,
            folder=imap.folder,
            processed_folder=imap.processed_folder,
            timeout=float(imap.timeout),
        )
    )
