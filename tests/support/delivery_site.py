"""The delivery tests' site: the samples under a config that sends over SMTP
to a relay on 127.0.0.1, its clock and secret, readers to send to, and
feedpub as a separate process (``cli``, ``finish``), as cron runs it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feedpub.config import Config, load_config
from feedpub.store import SqlStore
from support.smtp_relay import HOST, Recorder

REPO = Path(__file__).resolve().parents[2]
DAMASCUS = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=DAMASCUS)  # an hour after the 07:00 slot
SECRET = "exactly-once-test-secret-0123456789"
ENV_NOW = "2026-11-29T08:00:00+03:00"


def config_text(
    store_url: str,
    port: int,
    *,
    seed: Path | None = None,
    batch: int = 50,
    connections: int = 16,
) -> str:
    seed_line = f"subscribers:\n  seed: {seed}\n" if seed else ""
    return f"""\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
  timezone: Asia/Damascus
store:
  url: "{store_url}"
sources:
  - path: {REPO}/samples/pages
  - path: {REPO}/samples/records
feeds:
  output: public
digests:
  - name: daily
    title: "النشرة اليومية"
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "أخبار الشام <news@news.example.org>"
    reply_to: "editor@news.example.org"
    first_lookback: 52w
delivery:
  backend: smtp
  outbox: var/outbox
  batch: {batch}
  stale_after: 1m
  smtp:
    host: {HOST}
    port: {port}
    security: none
    timeout: 5
    connections: {connections}
{seed_line}"""


def make_cfg(folder: Path, store_url: str, port: int, **kwargs: Any) -> Config:
    path = folder / "config.yaml"
    path.write_text(config_text(store_url, port, **kwargs), encoding="utf-8")
    return load_config(path)


def add_readers(store: SqlStore, count: int, **kwargs: Any) -> list[str]:
    addresses = [f"reader{i}@example.org" for i in range(count)]
    for i, address in enumerate(addresses):
        store.add_subscriber(
            address, NOW - timedelta(days=1), name=f"قارئ {i}", status="active", **kwargs
        )
    return addresses


def parsed(content: bytes) -> EmailMessage:
    message = message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


class Slow(Recorder):
    """Takes a few milliseconds per message, like a real relay."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return self.accept(session, envelope)


def cli(config: Path, *args: str, now: str = ENV_NOW, **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "FEEDPUB_SECRET": SECRET, "FEEDPUB_NOW": now, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "feedpub", "--config", str(config), *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err
