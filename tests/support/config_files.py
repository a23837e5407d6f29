"""Config files for the config tests: the smallest valid one (``MINIMAL``),
and ``write``, which puts a text where load_config reads it."""

from __future__ import annotations

from pathlib import Path

MINIMAL = """\
site:
  title: "أخبار"
  url: "https://news.example.org/"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path
