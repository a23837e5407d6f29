"""The values every reader in ingest is handed: the run's settings, and one
file's context (which replaces passing source, settings, now and mtime
along from function to function)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from feedpub.config import IngestConfig
from feedpub.ingest.chrome import SourceLines
from feedpub.model import Reject
from feedpub.text.arabic import Vocabulary


@dataclass(frozen=True)
class Settings:
    """What ingest needs from the config, compiled once per run (see
    ``ingest.settings``): its own section, the tag vocabulary and two site
    values."""

    limits: IngestConfig
    chrome: frozenset[str]  # chrome lines in ``tag_key`` form
    vocabulary: Vocabulary
    tz: tzinfo
    site_url: str
    # Everything above and the parser's code, hashed: a file read under
    # another fingerprint may read differently (``ingest.fingerprint``).
    fingerprint: str = ""


@dataclass(frozen=True)
class FileContext:
    """One file being read: where its articles come from and when."""

    source: str
    settings: Settings
    now: datetime  # stamps rejects
    mtime: datetime  # the date of an undated article, in the site's zone
    # The lines the pages of this file's folder repeat (learned chrome); None
    # for a file read on its own, which then has only the seed list.
    lines: SourceLines | None = None

    def reject(self, reason: str, location: str | None = None) -> Reject:
        return Reject(source=self.source, reason=reason, seen=self.now, location=location)
