"""Digest editions: which slot is due and what it holds (``plan``), the email
and its text part (``render``, CSS inlined by ``inline``), the web archive
(``archive``) and each recipient's message (``message``).

The app's order: plan, render (``Renderer``: once per content variant),
``write_archive`` (before delivery, so the «view in browser» link works when
the mail arrives), build and hand over one message per recipient, then
record ``edition_record(...)`` in the store. Each message's Message-ID is
``message_id(domain, delivery id, store key)`` (``headers``).

Inputs are narrow: a ``DigestConfig``, the ``EmailConfig`` and ``site.Site``;
never the whole ``Config``, and never ``feeds`` (the stores' readers are
declared here, beside their consumers).
"""

from feedpub.digests.archive import ArchiveReader, archive_path, archive_stem, write_archive
from feedpub.digests.headers import feedback_id, message_id, new_store_key
from feedpub.digests.message import Prepared, build_message, personalize, prepare_message
from feedpub.digests.plan import EditionReader, PlannedEdition, plan_edition, preview_edition
from feedpub.digests.render import RenderedEdition, Renderer, edition_record, render_edition
from feedpub.digests.site import Site

__all__ = [
    "ArchiveReader",
    "EditionReader",
    "PlannedEdition",
    "Prepared",
    "RenderedEdition",
    "Renderer",
    "Site",
    "archive_path",
    "archive_stem",
    "build_message",
    "edition_record",
    "feedback_id",
    "message_id",
    "new_store_key",
    "personalize",
    "plan_edition",
    "prepare_message",
    "preview_edition",
    "render_edition",
    "write_archive",
]
