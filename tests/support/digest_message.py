"""The demo edition as a whole message for one recipient (``Inputs``,
``render``, ``build``), read back as a mail store keeps it (``reparsed``),
and compared with tests/golden/ (``scrub``, ``check_golden``; run with
FEEDPUB_REGEN_GOLDEN=1 to rewrite the golden files)."""

from __future__ import annotations

import dataclasses
import os
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from feedpub.config import EmailConfig
from feedpub.digests import RenderedEdition, Site, plan_edition, render_edition
from feedpub.digests.message import build_message
from feedpub.model import Article
from support.digest_fixtures import DAILY, DAMASCUS, EMAIL, NOW, FakeStore, articles

GOLDEN = Path(__file__).parents[1] / "golden"
REGEN = os.environ.get("FEEDPUB_REGEN_GOLDEN") == "1"
TO = "سامي <sami@example.com>"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What a message is built from besides the rendered edition."""

    site: Site
    email: EmailConfig = EMAIL


def render(cfg: Inputs, stored: list[Article] | None = None, count: int = 15) -> RenderedEdition:
    daily = dataclasses.replace(DAILY, max_items=count)
    planned = plan_edition(FakeStore(stored or articles()), daily, NOW, tz=DAMASCUS)
    assert planned is not None
    return render_edition(planned, cfg.site, cfg.email)


def build(rendered: RenderedEdition, cfg: Inputs, token: str | None = "t0k/+=") -> EmailMessage:
    return build_message(
        rendered,
        DAILY,
        cfg.site,
        cfg.email,
        to=TO,
        unsubscribe_token=token,
        now=NOW,
        preferences_token=None if token is None else "pr3f/+=",
    )


def reparsed(message: EmailMessage) -> EmailMessage:
    # As a local mail store would keep it: LF line ends.
    raw = message.as_bytes().replace(b"\r\n", b"\n")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def scrub(raw: bytes) -> str:
    text = raw.decode("ascii").replace("\r\n", "\n")
    text = re.sub(r"(?m)^Message-ID: .*$", "Message-ID: <SCRUBBED>", text)
    text = re.sub(r"(?m)^Date: .*$", "Date: SCRUBBED", text)
    for boundary in set(re.findall(r'boundary="([^"]+)"', text)):
        text = text.replace(boundary, "BOUNDARY")
    return text


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
    assert path.exists(), f"{path} missing: run with FEEDPUB_REGEN_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"
