"""The mail-loop tests' site: the samples and a folder of news under a
config that writes to the outbox with a VERP return path (``make_config``,
its inbound section given), its clock and secret, readers to subscribe, and
an article to publish after the first edition."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from feedpub.config import Config, load_config
from feedpub.store import SqlStore
from support.postfix import RETURN_PATH

REPO = Path(__file__).resolve().parents[2]
DAMASCUS = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=DAMASCUS)  # an hour after the 07:00 slot
SECRET = "mail-loop-test-secret-0123456789"


def make_config(folder: Path, inbound: str) -> Config:
    (folder / "news").mkdir(exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(
        f"""\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
  timezone: Asia/Damascus
store:
  url: "sqlite:///{folder / "feedpub.db"}"
sources:
  - path: {REPO}/samples/pages
  - path: {REPO}/samples/records
  - path: {folder / "news"}
feeds:
  output: public
digests:
  - name: daily
    title: "النشرة اليومية"
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "أخبار الشام <news@news.example.org>"
    first_lookback: 52w
    only_if_new: false
  - name: weekly
    title: "النشرة الأسبوعية"
    schedule: "0 7 * * 5"
    subject: "{{{{ site_title }}}}: الأسبوع"
    from: "أخبار الشام <news@news.example.org>"
    first_lookback: 52w
delivery:
  backend: outbox
  outbox: {folder / "outbox"}
  return_path: {RETURN_PATH}
{inbound}""",
        encoding="utf-8",
    )
    return load_config(path)


def subscribe(store: SqlStore, *addresses: str) -> None:
    for address in addresses:
        store.add_subscriber(address, NOW - timedelta(days=3), status="active")


def publish_news(folder: Path) -> None:
    """An article after the first edition, so the next one has news."""
    record = {
        "id": "r-2026-11-29-bridge",
        "title": "افتتاح جسر جديد فوق نهر العاصي",
        "text": "افتتحت محافظة حماة صباح اليوم جسراً جديداً فوق نهر العاصي.",
        "published": "2026-11-29T12:00:00+03:00",
        "tags": ["محليات"],
    }
    (folder / "news" / "more.jsonl").write_text(
        json.dumps(record, ensure_ascii=False) + "\n", "utf-8"
    )
