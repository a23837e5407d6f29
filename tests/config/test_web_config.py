"""The ``web:`` section (the web app's server inside ``feedpub serve``):
defaults, and a bad value named by its key in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedpub.config import ConfigError, WebConfig, load_config

MINIMAL = """\
site:
  title: "أخبار"
  url: "https://news.example.org/"
"""


def test_defaults_fit_the_units_open_files_limit(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_config(path).web == WebConfig(4000, 30, 1024, 16)


def test_values_are_read(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = "web:\n  connection_limit: 100\n  idle_timeout: 5\n  backlog: 64\n  threads: 2\n"
    path.write_text(MINIMAL + text, encoding="utf-8")
    assert load_config(path).web == WebConfig(100, 5, 64, 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web:\n  connection_limit: 0\n", "web.connection_limit: must be between 16 and 100000"),
        ("web:\n  idle_timeout: 0\n", "web.idle_timeout: must be between 1 and 3600"),
        ("web:\n  backlog: 1\n", "web.backlog: must be between 8 and 65535"),
        ("web:\n  threads: 500\n", "web.threads: must be between 1 and 64"),
        ("web:\n  idle_timout: 5\n", "web.idle_timout"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
