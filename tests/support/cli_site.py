"""The command-line tests' site: the samples under a config of their own,
the clock fixed after the daily slot, and ``run`` as cron calls feedpub."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedpub.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
NOW = "2026-11-29T08:00:00+03:00"  # after the daily 07:00 slot

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
store:
  url: "sqlite:///var/feedpub.db"
sources:
  - path: {pages}
  - path: {records}
tags:
  vocabulary:
    الأسد: []
    بوتين: []
    روسيا: [روسي, الروسية, موسكو]
    كورونا: [كوفيد, COVID-19]
feeds:
  output: public
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "news@news.example.org"
    first_lookback: 10d
delivery:
  outbox: outbox
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pages = tmp_path / "pages"
    pages.mkdir()
    for page in (SAMPLES / "pages").iterdir():
        (pages / page.name).write_bytes(page.read_bytes())
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(pages=pages, records=SAMPLES / "records"), encoding="utf-8")
    monkeypatch.setenv("FEEDPUB_NOW", NOW)
    monkeypatch.delenv("FEEDPUB_STORE_URL", raising=False)
    return config


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])
