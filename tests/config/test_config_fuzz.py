"""Issue 12: whatever a key holds, loading is one line ``file:line: key:
reason`` (ConfigError, exit 2), never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedpub.config import ConfigError, load_config

BASE: dict[str, Any] = {
    "site": {"title": "أخبار", "url": "https://news.example.org", "timezone": "Asia/Damascus"},
    "store": {"url": "sqlite:///var/feedpub.db"},
    "sources": [{"path": "pages"}],
    "tags": {"vocabulary": {"روسيا": ["موسكو"]}},
    "ingest": {"chrome_lines": ["شارك"], "max_article_bytes": 1000, "max_tags": 5},
    "feeds": {"output": "public", "items": 20, "formats": ["atom"], "websub_hub": "https://h.org"},
    "digests": [
        {
            "name": "daily",
            "schedule": "0 7 * * *",
            "subject": "{{ site_title }}",
            "from": "a@b.org",
            "first_lookback": "24h",
            "max_items": 5,
        }
    ],
    "email": {
        "locale": "ar_SY",
        "max_html_bytes": 95000,
        "unsubscribe_url": "https://x/{list}/{token}",
    },
    "delivery": {"outbox": "var/outbox"},
    "service": {"schedule": "*/10 * * * *"},
}
KEYS = [
    (section, key)
    for section, body in BASE.items()
    for key in (body[0] if isinstance(body, list) else body)
]
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.text(max_size=50),
    st.sampled_from(
        [
            "/",
            "..",
            ".",
            "../../..",
            "pages",
            "pages/x",
            "{{ x }}",
            "{% if %}",
            "{{ ''.__class__ }}",
            "sqlite://",
            "1000000w",
            "http://[::1",
            "a\r\nb",
            "xx_YY",
            "9 9 9",
            "\x00",
        ]
    ),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
LINE = re.compile(r"^\S+?(:\d+)?: [^\n]+$")


def with_value(section: str, key: str, value: object) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(yaml.safe_dump(BASE))
    body = data[section]
    (body[0] if isinstance(body, list) else body)[key] = value
    return data


def dumps(data: object) -> str | None:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return None  # text YAML cannot even write (a lone surrogate)


def test_the_base_config_loads(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(BASE), encoding="utf-8")
    load_config(tmp_path / "config.yaml")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.sampled_from(KEYS), value=HOSTILE)
def test_any_value_of_any_key_is_loaded_or_one_line(key: tuple[str, str], value: object) -> None:
    text = dumps(with_value(*key, value))
    if text is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            assert LINE.match(str(exc)), str(exc)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")))
def test_any_bytes_are_loaded_or_one_line(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert LINE.match(str(exc)), str(exc)


CLI_CASES = [
    ("feeds", "items", 10**20),
    ("feeds", "output", "/"),
    ("digests", "subject", "{{ sitetitle }}"),
    ("email", "locale", "xx_YY"),
    ("site", "url", "http://[::1"),
    ("store", "url", "sqlite://"),
]


@pytest.mark.parametrize(("section", "key", "value"), CLI_CASES)
def test_cli_exits_2_with_one_line(tmp_path: Path, section: str, key: str, value: object) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(dumps(with_value(section, key, value)) or "", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(path), "ingest"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"feedpub: config error: {path}:") and f"{key}: " in line
