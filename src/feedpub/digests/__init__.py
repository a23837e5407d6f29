"""Digest editions: which slot is due and what it holds (``plan``), the email
and its text part (``render``, CSS inlined by ``inline``), the web archive
(``archive``), each recipient's message (``message``), and the flow that
takes an edition from plan to recipients exactly once (``edition``);
breaking-news alerts, one edition per new article (``alerts``).

The order (``edition.Editions``): plan, render (``Renderer``: once per
content variant), ``write_archive`` (before delivery, so the «view in
browser» link works when the mail arrives), RECORD the edition with one
delivery per recipient in one transaction, then claim, compose and hand
over each message through ``delivery``. Each message's Message-ID is
``message_id(domain, delivery id, store key)`` (``headers``).

Inputs are narrow: a ``DigestConfig``, the ``EmailConfig`` and ``site.Site``;
never the whole ``Config``, and never ``feeds`` (the stores' readers are
declared here, beside their consumers).
"""

from feedpub.digests.alerts import AlertOutcome, PlannedAlerts, alert_slot, plan_alerts
from feedpub.digests.archive import ArchiveReader, archive_path, archive_stem, write_archive
from feedpub.digests.edition import (
    RESUME_EDITIONS,
    DigestOutcome,
    EditionDeliveries,
    Editions,
    parse_edition,
    variant_articles,
)
from feedpub.digests.headers import feedback_id, message_id
from feedpub.digests.message import Prepared, build_message, personalize, prepare_message
from feedpub.digests.plan import EditionReader, PlannedEdition, plan_edition, preview_edition
from feedpub.digests.render import RenderedEdition, Renderer, edition_record, render_edition
from feedpub.digests.signup_mail import SignupMailWriter
from feedpub.digests.site import Site

__all__ = [
    "RESUME_EDITIONS",
    "AlertOutcome",
    "ArchiveReader",
    "DigestOutcome",
    "EditionDeliveries",
    "EditionReader",
    "Editions",
    "PlannedAlerts",
    "PlannedEdition",
    "Prepared",
    "RenderedEdition",
    "Renderer",
    "SignupMailWriter",
    "Site",
    "alert_slot",
    "archive_path",
    "archive_stem",
    "build_message",
    "edition_record",
    "feedback_id",
    "message_id",
    "parse_edition",
    "personalize",
    "plan_alerts",
    "plan_edition",
    "prepare_message",
    "preview_edition",
    "render_edition",
    "variant_articles",
    "write_archive",
]
