"""deploy/outbox/drain-outbox, the documented hand-off of the outbox: the
messages a real `feedpub run` wrote go through Debian's Postfix `sendmail`
(an instance of the test's own, `sendmail -C <its config>`) into the
readers' Maildir, each moved to cur/ only after sendmail took it; a sendmail
that fails leaves every message in new/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from support.postfix import MAILBOX_DOMAIN, Postfix, start_postfix, stop_postfix
from support.servers import remove_folder, server_folder

REPO = Path(__file__).resolve().parents[2]
DRAIN = REPO / "deploy" / "outbox" / "drain-outbox"
SAMPLES = REPO / "samples"
NOW = "2026-11-29T08:00:00+03:00"  # after the daily 07:00 slot
READERS = [f"reader{i}@{MAILBOX_DOMAIN}" for i in range(3)]
SENDMAIL = "/usr/sbin/sendmail"

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
store:
  url: "sqlite:///var/feedpub.db"
sources:
  - path: {records}
feeds:
  output: public
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "news@news.example.org"
    first_lookback: 10d
delivery:
  outbox: var/outbox
  return_path: bounces@news.example.org
"""


def feedpub(config: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPUB_")}
    env |= {"FEEDPUB_NOW": NOW, "FEEDPUB_SECRET": "drain-outbox-test-secret-0123456789"}
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def drain(outbox: Path, sendmail: str) -> subprocess.CompletedProcess[str]:
    """The script as cron or the timer runs it: the system's python3, no venv."""
    return subprocess.run(
        ["/usr/bin/python3", str(DRAIN), "--sendmail", sendmail, str(outbox)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def parse(path: Path) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    """The outbox of a real run: one digest for each of three readers."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(records=SAMPLES / "records"), encoding="utf-8")
    for reader in READERS:
        feedpub(config, "subscribers", "add", reader)
    feedpub(config, "run")
    folder = tmp_path / "var" / "outbox"
    assert len(list((folder / "new").iterdir())) == len(READERS)
    return folder


@pytest.fixture
def postfix() -> Postfix:
    if not Path(SENDMAIL).exists():
        pytest.skip("Debian's postfix is not installed (.ci/run installs it)")
    root = server_folder("feedpub-drain-")
    try:
        server = start_postfix(root, readers=READERS)
    except BaseException:
        remove_folder(root)
        raise
    try:
        yield server  # type: ignore[misc]
    finally:
        stop_postfix(server)
        remove_folder(root)


def delivered(maildir: Path, count: int, server: Postfix) -> list[Path]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = sorted((maildir / "new").iterdir())
        if len(found) >= count:
            return found
        time.sleep(0.1)
    pytest.fail(f"postfix delivered fewer than {count} messages; log:\n{server.log_text()}")


def test_a_failing_sendmail_leaves_every_message_in_new(outbox: Path) -> None:
    if not Path(SENDMAIL).exists():
        pytest.skip("Debian's postfix is not installed (.ci/run installs it)")
    before = sorted(p.name for p in (outbox / "new").iterdir())
    done = drain(outbox, f"{SENDMAIL} -C /nonexistent/postfix")
    assert done.returncode == 1
    assert sorted(p.name for p in (outbox / "new").iterdir()) == before
    assert list((outbox / "cur").iterdir()) == []
    assert done.stderr.count("kept in new/") == len(READERS), done.stderr
    assert "0 handed over, 3 kept for the next run" in done.stderr


def test_the_outbox_drains_into_postfix_and_each_message_moves_to_cur(
    outbox: Path, postfix: Postfix
) -> None:
    written = {p.name: parse(p) for p in (outbox / "new").iterdir()}
    done = drain(outbox, f"{SENDMAIL} -C {postfix.config}")
    assert (done.returncode, done.stderr) == (0, "")
    assert list((outbox / "new").iterdir()) == []
    taken = sorted(p.name for p in (outbox / "cur").iterdir())
    assert taken == sorted(f"{name}:2,P" for name in written)

    arrived = [parse(p) for p in delivered(postfix.readers, len(READERS), postfix)]
    assert sorted(str(m["Delivered-To"]) for m in arrived) == sorted(READERS)
    by_reader = {str(m["Delivered-To"]): m for m in arrived}
    for original in written.values():
        (reader,) = [r for r in READERS if r in str(original["To"])]
        got = by_reader[reader]
        # The envelope sender is the outbox's Return-Path (a VERP address),
        # written once, by Postfix, on delivery.
        assert got.get_all("Return-Path") == [original["Return-Path"]]
        assert str(original["Return-Path"]).startswith("<bounces+")
        assert got["Message-ID"] == original["Message-ID"]
        assert got["Subject"] == original["Subject"]

    # A second drain finds nothing to do; a rerun of feedpub writes nothing again.
    again = drain(outbox, f"{SENDMAIL} -C {postfix.config}")
    assert (again.returncode, again.stderr) == (0, "")
    assert list((outbox / "new").iterdir()) == []
