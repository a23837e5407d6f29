"""Deliverability: the demo edition, as a whole message, scored by Debian's
SpamAssassin in local mode (no network tests, no rule updates: the rules the
package ships). Any rule that adds points fails the test, whatever the total:
a newsletter should not lean on the threshold.

.ci/run installs spamassassin where it can; elsewhere these tests skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from email.utils import format_datetime
from pathlib import Path

import pytest

from feedpub.model import Article
from support.digest_fixtures import NOW, articles, big_articles, make_site
from support.digest_message import Inputs, build, render

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(
    SPAMASSASSIN is None, reason="spamassassin is not installed (.ci/run installs it as root)"
)

# The message as the site's own mail server (the relay the outbox hands over
# to) receives it from feedpub on the same host. Without it SpamAssassin only
# notes NO_RECEIVED/NO_RELAYS (0 points); with it, the local hop is trusted
# (ALL_TRUSTED, negative). DNS-based checks (RDNS, SPF, DKIM, DNSBLs) cannot
# apply to a message that never crossed the network; -L turns them off rather
# than letting them fail for lack of DNS on the test machine.
RECEIVED = (
    "Received: from localhost (localhost [127.0.0.1])\n"
    "\tby news.example.org (Postfix) with ESMTP id 4Q1X2Y3Z4W\n"
    f"\tfor <sami@example.com>; {format_datetime(NOW)}\n"
)

_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s")


def spam_report(raw: bytes, home: Path) -> dict[str, float]:
    """Rule name -> points, from the report ``spamassassin -L -t`` appends."""
    assert SPAMASSASSIN is not None
    done = subprocess.run(
        # -x: no user prefs file is created under HOME; HOME is a temp folder
        # so the user's own ~/.spamassassin never changes the result.
        [SPAMASSASSIN, "-L", "-t", "-x"],
        input=raw,
        capture_output=True,
        timeout=120,
        check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    out = done.stdout.decode("utf-8", "replace")
    table = out.split("Content analysis details:", 1)[1].split("\n----", 1)[1]
    rules: dict[str, float] = {}
    for line in table.split("\n")[1:]:
        if not line.strip():
            break  # the table ends at the first blank line
        match = _RULE.match(line)
        if match:  # otherwise a wrapped description line
            rules[match.group(2)] = float(match.group(1))
    return rules


@pytest.fixture
def cfg(tmp_path: Path) -> Inputs:
    return Inputs(make_site(tmp_path))


def scored(cfg: Inputs, tmp_path: Path, stored: list[Article]) -> dict[str, float]:
    message = build(render(cfg, stored), cfg)
    raw = RECEIVED.encode("ascii") + message.as_bytes().replace(b"\r\n", b"\n")
    return spam_report(raw, tmp_path)


def test_demo_edition_scores_no_points(cfg: Inputs, tmp_path: Path) -> None:
    rules = scored(cfg, tmp_path, stored=articles())
    # The report was read: HTML_MESSAGE (0 points) always fires on this mail.
    assert "HTML_MESSAGE" in rules, rules
    assert {name: points for name, points in rules.items() if points > 0} == {}


def test_a_long_edition_scores_no_points(cfg: Inputs, tmp_path: Path) -> None:
    # Fifteen long items and the "more on the site" notice: the rules about
    # HTML/text ratio and long bodies see a full-sized digest.
    rules = scored(cfg, tmp_path, stored=big_articles(15))
    assert "HTML_MESSAGE" in rules, rules
    assert {name: points for name, points in rules.items() if points > 0} == {}
