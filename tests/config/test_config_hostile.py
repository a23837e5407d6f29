"""Issue 12: every config value is checked at load, as one line
``file:line: key: reason``; the output folders are confined."""

from __future__ import annotations

import re
import resource
from pathlib import Path

import pytest

from feedpub.config import ConfigError, load_config
from feedpub.text.rtl import known_locale

MINIMAL = """\
site:
  title: "أخبار"
  url: "https://news.example.org/"
"""
DIGEST = """\
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "النشرة"
    from: "news@news.example.org"
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def one_line(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert re.match(rf"{re.escape(str(path.resolve()))}(:\d+)?: \S", message), message
    return message


def subject(template: str) -> str:
    return DIGEST.replace('"النشرة"', repr(template).replace("'", '"'))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (subject("{{ sitetitle }}"), ":7: digests[0].subject: unknown name 'sitetitle'"),
        (subject("{% if %}x{% endif %}"), "digests[0].subject: template syntax error"),
        (subject("{{ site_title.__class__ }}"), "digests[0].subject: template uses getattr"),
        (subject("{{ 9**9**9 }}"), "digests[0].subject: template uses pow"),
        (subject("{{ lipsum() }}"), "digests[0].subject: template uses call"),
        (subject("{{ date|center(1000000000) }}"), "filter 'center' is not allowed"),
        (DIGEST.replace("news@news.example.org", "a@b.org\\r\\nBcc: x@y.org"), "digests[0].from"),
        (DIGEST + '    reply_to: "a@b.org\\nBcc: x@y.org"\n', "digests[0].reply_to: must not"),
        (DIGEST + "    first_lookback: 1000000w\n", "digests[0].first_lookback: must be at most"),
        (DIGEST + "    first_lookback: 99999999999w\n", "digests[0].first_lookback:"),
        (DIGEST + "    max_items: 100000\n", "digests[0].max_items: must be between 1 and 1000"),
        ("feeds:\n  items: 1001\n", ":5: feeds.items: must be between 1 and 1000"),
        ("feeds:\n  items: -5\n", ":5: feeds.items: must be between 1 and 1000"),
        ("feeds:\n  archive_page_size: 10000000000000000\n", "feeds.archive_page_size: must be"),
        ("email:\n  locale: xx_YY\n", ":5: email.locale: unknown locale 'xx_YY'"),
        ("email:\n  locale: ar_SY.UTF-8\n", "email.locale: unknown locale"),
        ("email:\n  max_html_bytes: 1000\n", "email.max_html_bytes: must be between 20000 and"),
        ("email:\n  max_html_bytes: 200000\n", "email.max_html_bytes: must be between 20000 and"),
        ("email:\n  unsubscribe_url: https://x.org/u\n", "email.unsubscribe_url: must be"),
        ("ingest:\n  max_tags: 0\n", "ingest.max_tags: must be between 1 and 1000"),
        ("ingest:\n  max_file_bytes: 10\n", "ingest.max_file_bytes: must be between"),
        ("ingest:\n  workers: 0\n", "ingest.workers: must be auto or a number from 1 to 64, got 0"),
        ("ingest:\n  workers: 65\n", "ingest.workers: must be auto or a number from 1 to 64"),
        (
            "ingest:\n  workers: many\n",
            "ingest.workers: must be auto or a number from 1 to 64, got str",
        ),
        ("ingest:\n  workers: true\n", "ingest.workers: must be auto or a number from 1 to 64"),
        ("ingest:\n  workers: 1.5\n", "ingest.workers: must be auto or a number from 1 to 64"),
        ('ingest:\n  chrome_lines: ["a\\0b"]\n', "ingest.chrome_lines[0]: must not contain"),
        ("store:\n  url: sqlite://\n", ":5: store.url: an in-memory SQLite store keeps nothing"),
        ("store:\n  url: 'sqlite:///:memory:'\n", "store.url: an in-memory SQLite store"),
        ("service:\n  schedule: 99 99 99 99 99\n", "service.schedule: not a cron expression"),
    ],
)
def test_bad_value_is_one_line(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in one_line(write(tmp_path, MINIMAL + extra))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('site:\n  title: "a\\0b"\n  url: https://x.org\n', ":2: site.title: must not contain"),
        ("site:\n  title: " + "a" * 301 + "\n  url: https://x.org\n", "site.title: must be at"),
        ('site:\n  title: t\n  url: "http://[::1"\n', ":3: site.url: not a URL"),
        ('site:\n  title: t\n  url: "http://x.org:99999"\n', ":3: site.url: not a URL"),
        ("site:\n  title: t\n  url: https://x.org\n  timezone: ../../etc\n", "unknown time zone"),
    ],
)
def test_bad_site_value_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in one_line(write(tmp_path, text))


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"site:\n  title: \xff\xfe\n", b"site: \x00\x01\n"],
)
def test_binary_or_non_utf8_config_is_one_line(tmp_path: Path, data: bytes) -> None:
    one_line(write(tmp_path, data))


def test_billion_laughs_config_is_refused_quickly(tmp_path: Path) -> None:
    lol = "x0: &x0 [" + ", ".join(["lol"] * 10) + "]\n"
    for n in range(1, 9):
        lol += f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}"] * 10) + "]\n"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert "not valid YAML" in one_line(write(tmp_path, MINIMAL + lol))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000


def test_a_few_anchors_are_still_fine(tmp_path: Path) -> None:
    text = MINIMAL + DIGEST.replace('"news@news.example.org"', "&from news@news.example.org")
    text += '  - name: weekly\n    schedule: "0 7 * * 1"\n    subject: w\n    from: *from\n'
    assert [d.from_addr for d in load_config(write(tmp_path, text)).digests] == [
        "news@news.example.org"
    ] * 2


def test_known_locale() -> None:
    assert known_locale("ar_SY") and known_locale("ar") and known_locale("en_US")
    assert not any(map(known_locale, ["xx_YY", "", "../ar", "ar_SY.UTF-8", "ar-SY", "\0"]))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("feeds:\n  output: /\n", "feeds.output: must not be the root folder"),
        ("feeds:\n  output: .\n", "feeds.output: must not be the config file's folder"),
        ("feeds:\n  output: ..\n", "feeds.output: must not be the config file's folder"),
        ("delivery:\n  outbox: ./\n", "delivery.outbox: must not be the config file's folder"),
        ("sources:\n  - path: pages\nfeeds:\n  output: pages\n", "feeds.output: must not be in"),
        ("sources:\n  - path: pages\nfeeds:\n  output: pages/out\n", "must not be inside the"),
        ("sources:\n  - path: site/pages\nfeeds:\n  output: site\n", "must not contain the source"),
        ("feeds:\n  output: config.yaml\n", "feeds.output: "),
        ("feeds:\n  output: out\ndelivery:\n  outbox: out/mail\n", "must not overlap"),
        ("feeds:\n  output: out/feeds\ndelivery:\n  outbox: out\n", "must not overlap"),
        ("feeds:\n  output: out\ndelivery:\n  outbox: out\n", "must not overlap"),
    ],
)
def test_output_folders_are_confined(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in one_line(write(tmp_path, MINIMAL + extra))


def test_an_existing_file_is_not_an_output_folder(tmp_path: Path) -> None:
    (tmp_path / "public").write_text("not a folder", encoding="utf-8")
    assert "feeds.output: " in one_line(write(tmp_path, MINIMAL))
