"""config.yaml: a working default, and one clear line per mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedpub.config import ConfigError, load_config, parse_duration
from support.config_files import MINIMAL, write

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_loads() -> None:
    cfg = load_config(REPO / "config.yaml")
    assert cfg.site.language == "ar"
    assert cfg.store.url == f"sqlite:///{REPO / 'var' / 'feedpub.db'}"
    assert [s.path for s in cfg.sources] == [REPO / "samples/pages", REPO / "samples/records"]
    assert cfg.digest("daily").schedule == "0 7 * * *"


def test_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.site.url == "https://news.example.org"
    assert str(cfg.site.timezone) == "Asia/Damascus"
    assert cfg.store.url == f"sqlite:///{tmp_path.resolve() / 'var' / 'feedpub.db'}"
    assert cfg.feeds.output == tmp_path.resolve() / "public"
    assert cfg.feeds.url == cfg.site.url
    assert (cfg.feeds.items, cfg.feeds.min_items, cfg.feeds.formats) == (
        20,
        1,
        ("atom", "rss", "json"),
    )
    assert cfg.ingest.max_article_bytes == 1024 * 1024
    # Lines added to ingest's built-in list: none unless configured.
    assert cfg.ingest.chrome_lines == ()
    assert cfg.ingest.max_file_bytes == 64 * 1024 * 1024
    assert (cfg.ingest.max_tags, cfg.ingest.max_title_chars, cfg.ingest.max_summary_chars) == (
        50,
        300,
        1000,
    )
    assert cfg.ingest.workers == "auto"
    assert cfg.delivery.outbox == tmp_path.resolve() / "var" / "outbox"
    # feedpub writes the topic pages, links the web app's sign-up page, puts the image in the HTML.
    assert (cfg.feeds.tag_page_url, cfg.feeds.subscribe_url, cfg.feeds.image_in_content) == (
        "",
        "",
        True,
    )


def test_the_sites_own_topic_pages_and_sign_up_page_are_taken(tmp_path: Path) -> None:
    extra = (
        "feeds:\n  tag_page_url: https://news.example.org/tag/{slug}/\n"
        "  subscribe_url: https://lists.example.org/join\n  image_in_content: false\n"
    )
    cfg = load_config(write(tmp_path, MINIMAL + extra))
    assert cfg.feeds.tag_page_url == "https://news.example.org/tag/{slug}/"
    assert cfg.feeds.subscribe_url == "https://lists.example.org/join"
    assert cfg.feeds.image_in_content is False


@pytest.mark.parametrize(("text", "expected"), [("auto", "auto"), ("1", 1), ("3", 3)])
def test_ingest_workers_is_auto_or_a_count(tmp_path: Path, text: str, expected: object) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + f"ingest:\n  workers: {text}\n"))
    assert cfg.ingest.workers == expected


def test_store_url_comes_from_the_environment_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDPUB_STORE_URL", "postgresql+psycopg://feedpub:secret@db/feedpub")
    cfg = load_config(write(tmp_path, MINIMAL + 'store:\n  url: "sqlite:///x.db"\n'))
    assert cfg.store.url == "postgresql+psycopg://feedpub:secret@db/feedpub"


def test_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDPUB_CONFIG", str(write(tmp_path, MINIMAL)))
    assert load_config().path == (tmp_path / "config.yaml").resolve()


DIGEST = """\
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "النشرة"
    from: "news@news.example.org"
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("sitee: 1\n", ":4: sitee: unknown key"),
        ("feeds:\n  items: many\n", ":5: feeds.items: must be int, got str"),
        ("feeds:\n  items: 0\n", ":5: feeds.items: must be between 1 and 1000"),
        ("feeds:\n  full_content: 1\n", "feeds.full_content: must be bool, got int"),
        ("sources:\n  - {}\n", ":5: sources[0]: must name a source"),
        ("feeds:\n  image_in_content: 1\n", "feeds.image_in_content: must be bool, got int"),
        ("feeds:\n  tag_page_url: https://x.org/tag/\n", "feeds.tag_page_url: must hold {slug}"),
        ("feeds:\n  tag_page_url: https://x.org/{slug}/{id}\n", "feeds.tag_page_url: must hold"),
        ("feeds:\n  tag_page_url: /tag/{slug}/\n", "feeds.tag_page_url: must be an http(s) URL"),
        ("feeds:\n  subscribe_url: /subscribe\n", "feeds.subscribe_url: must be an http(s) URL"),
        # The names are the feeds' registry's to check (tests/feeds/test_writers.py).
        ("feeds:\n  formats: [atom, RDF]\n", "feeds.formats[1]: 'RDF' is not a format name"),
        ("sources: here\n", "sources: must be a list"),
        ("tags:\n  vocabulary:\n    روسيا: موسكو\n", "tags.vocabulary.روسيا: must be a list"),
        ("ingest:\n  chrome_lines: [1]\n", "ingest.chrome_lines[0]: must be str, got int"),
        (DIGEST.replace("0 7 * * *", "0 25 * * *"), "digests[0].schedule: not a cron expression"),
        (DIGEST.replace("daily", "Daily News"), "digests[0].name: must be lower-case"),
        (DIGEST.replace("news@news", "news-at-news"), "digests[0].from: not an email address"),
        (DIGEST + "    first_lookback: soon\n", "digests[0].first_lookback: 'soon' is not"),
        (DIGEST + "    colour: red\n", ":9: digests[0].colour: unknown key"),
        (DIGEST + DIGEST.replace("digests:\n", ""), "digests[1].name: digest 'daily' is defined"),
        ("email:\n  digits: roman\n", "email.digits: must be 'arab' or 'latn'"),
        # A list, a mapping or text where another is wanted, in every section.
        ("site:\n  title: again\n", ":4: site: given twice (first on line 1)"),
        ("feeds:\n  items: 5\n  items: 6\n", ":6: feeds.items: given twice (first on line 5)"),
        ("tags:\n  vocabulary:\n    أ: []\n    أ: [ب]\n", ":7: tags.vocabulary.أ: given twice"),
        ("store: sqlite:///x.db\n", ":4: store: must be a mapping, got str"),
        ("store:\n  url: [sqlite:///x.db]\n", ":5: store.url: must be str, got a list"),
        ("store:\n  url: /var/feedpub.db\n", ":5: store.url: must be sqlite:///PATH or postgresql"),
        ("store:\n  url: mysql://db/x\n", ":5: store.url: must be sqlite:///PATH or postgresql"),
        ("tags: [a]\n", ":4: tags: must be a mapping, got a list"),
        ("tags:\n  vocabulary: [a]\n", ":5: tags.vocabulary: must be dict, got a list"),
        ("sources:\n  - [a]\n", ":5: sources[0]: must be a mapping, got a list"),
        ("sources:\n  - path: {a: b}\n", ":5: sources[0].path: must be str, got a mapping"),
        ("ingest: [a]\n", ":4: ingest: must be a mapping, got a list"),
        ("ingest:\n  chrome_lines: {a: b}\n", ":5: ingest.chrome_lines: must be list, got a"),
        ("ingest:\n  max_article_bytes: [1]\n", ":5: ingest.max_article_bytes: must be int"),
        ("ingest:\n  max_article_bytes: true\n", ":5: ingest.max_article_bytes: must be int"),
        ("feeds: 3\n", ":4: feeds: must be a mapping, got int"),
        ("digests: {name: daily}\n", ":4: digests: must be a list, got a mapping"),
    ],
)
def test_mistake_is_one_line_naming_file_line_and_key(
    tmp_path: Path, extra: str, expected: str
) -> None:
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path.resolve()))
    assert expected in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("site:\n  title: x\n", "site.url: is required"),
        ("site:\n  title: x\n  url: news.example.org\n", ":3: site.url: must be an http(s) URL"),
        (MINIMAL + "  timezone: Mars/Olympus\n", "site.timezone: unknown time zone"),
        ("- a\n- b\n", ":1: top level: must be a mapping, got a list"),
        ("site: [unclosed\n", ": not valid YAML"),
    ],
)
def test_broken_site_section_is_reported(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(write(tmp_path, text))
    assert expected in str(caught.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_digest_name_lists_the_known_ones(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + DIGEST))
    with pytest.raises(ConfigError, match=r"no digest named 'weekly' \(daily\)"):
        cfg.digest("weekly")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        (" 30s ", timedelta(seconds=30)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "1y", "-1d", "1.5h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("url", ["nonsense", "postgresql://feedpub:secret@db/feedpub"])
def test_store_url_from_the_environment_is_checked_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("FEEDPUB_STORE_URL", url)
    with pytest.raises(ConfigError, match=r"\$FEEDPUB_STORE_URL: must be sqlite") as caught:
        load_config(write(tmp_path, MINIMAL))
    assert "secret" not in str(caught.value) and "nonsense" not in str(caught.value)
