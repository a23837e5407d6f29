"""The whole delivery flow against a real SMTP server (aiosmtpd on
127.0.0.1): every subscriber exactly once, with their own signed link, also
through 421s and dropped connections, a SIGKILL mid-edition, and two senders
racing on one PostgreSQL store; who gets nothing, and who gets less."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from feedpub.app import Publisher, make_publisher
from feedpub.config import Config, load_config
from feedpub.delivery.backends import make_sender
from feedpub.delivery.pool import SmtpPool
from feedpub.delivery.smtp import SmtpSender, SmtpSettings
from feedpub.model import Article
from feedpub.store import SqlStore
from feedpub.tokens import read_token
from support.delivery_site import (
    NOW,
    SECRET,
    Slow,
    add_readers,
    cli,
    config_text,
    finish,
    make_cfg,
    parsed,
)
from support.smtp_relay import HOST, Flaky, Recorder, smtp_server


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


def publisher(cfg: Config, store: SqlStore, port: int, now: datetime = NOW) -> Publisher:
    pub = make_publisher(cfg, now=now, store=store)
    # The real sender, with backoff waits skipped: the retries still happen.
    settings = SmtpSettings(HOST, port, security="none", timeout=5.0, max_attempts=6)
    pub.use_sender(SmtpSender(settings, sleep=lambda _: None))
    return pub


def unsubscribe_token(message: EmailMessage) -> str:
    header = " ".join(str(message["List-Unsubscribe"]).split())
    found = re.search(r"<https://news\.example\.org/unsubscribe/daily/([^>]+)>", header)
    assert found, header
    return found.group(1)


def run_digest(cfg: Config, store: SqlStore, port: int, now: datetime = NOW) -> Any:
    pub = publisher(cfg, store, port, now)
    with pub:
        pub.ingest()
        return pub.digest("daily")


def test_500_subscribers_get_one_message_each_with_their_own_link(
    tmp_path: Path, store: SqlStore
) -> None:
    handler = Recorder()
    addresses = add_readers(store, 500)
    with smtp_server(handler) as port:
        cfg = make_cfg(tmp_path, "sqlite:///unused.db", port)
        outcome = run_digest(cfg, store, port)
        again = run_digest(cfg, store, port, NOW + timedelta(minutes=10))
    assert len(outcome.delivered) == 500
    assert again.edition is None and not again.delivered and not again.resumed
    assert sorted(handler.recipients()) == sorted(addresses)  # the rerun sent nothing
    tokens = set()
    for _, (rcpt,), content in handler.delivered:
        message = parsed(content)
        token = unsubscribe_token(message)
        assert read_token(SECRET.encode(), "unsubscribe", "daily", token) == rcpt
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        tokens.add(token)
    assert len(tokens) == 500
    edition_id = store.edition_id("daily", outcome.edition.slot)
    assert edition_id is not None
    assert store.delivery_counts(edition_id)["sent"] == 500


def test_421s_and_a_dropped_connection_still_reach_everyone_once(
    tmp_path: Path, store: SqlStore
) -> None:
    handler = Flaky()
    addresses = add_readers(store, 500)
    with smtp_server(handler) as port:
        outcome = run_digest(make_cfg(tmp_path, "sqlite:///unused.db", port), store, port)
    assert handler.dropped
    assert len(outcome.delivered) == 500
    assert Counter(handler.recipients()) == Counter(addresses)


def test_unsubscribed_bounced_and_tag_preferences(tmp_path: Path, store: SqlStore) -> None:
    handler = Recorder()
    add_readers(store, 3)
    for address, status in (("gone@example.org", "unsubscribed"), ("dead@example.org", "bounced")):
        store.add_subscriber(address, NOW - timedelta(days=1), status=status)
    store.add_subscriber(
        "sport@example.org", NOW - timedelta(days=1), status="active", tags=["طقس"]
    )
    store.add_subscriber(
        "none@example.org", NOW - timedelta(days=1), status="active", tags=["لا-وجود-له"]
    )
    with smtp_server(handler) as port:
        outcome = run_digest(make_cfg(tmp_path, "sqlite:///unused.db", port), store, port)
    got = handler.recipients()
    assert sorted(got) == sorted(
        ["reader0@example.org", "reader1@example.org", "reader2@example.org", "sport@example.org"]
    )
    assert outcome.skipped == 1  # no item matched the second tag selection: no message
    edition = outcome.edition
    articles = store.articles_by_ids(edition.article_ids)
    sport = [a for a in articles if any(t.name == "طقس" for t in a.tags)]
    assert sport and len(sport) < len(articles)
    (content,) = [c for _, (rcpt,), c in handler.delivered if rcpt == "sport@example.org"]
    text = body_text(parsed(content))
    for article in articles:
        assert (flat(article.title) in text) == (article in sport), article.title


def body_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return flat(part.get_content())


def flat(text: str) -> str:
    return " ".join(text.replace("\u200f", "").split())


def test_a_title_that_looks_like_a_slot_stays_literal(tmp_path: Path, store: SqlStore) -> None:
    handler = Recorder()
    add_readers(store, 1)
    published = NOW - timedelta(hours=2)
    store.upsert_article(
        Article(
            id="slot-title",
            title="%%UNSUBSCRIBE_URL%% عنوان غريب",
            summary="ملخص",
            content="<p>نص</p>",
            published=published,
            updated=published,
        ),
        NOW,
    )
    with smtp_server(handler) as port:
        cfg = make_cfg(tmp_path, "sqlite:///unused.db", port)
        with publisher(cfg, store, port) as pub:
            pub.digest("daily")
    (content,) = [c for _, _, c in handler.delivered]
    assert "%%UNSUBSCRIBE_URL%% عنوان غريب" in body_text(parsed(content))


# --- separate processes: a SIGKILL mid-edition, and two senders at once ---------


def write_seed(folder: Path, count: int) -> tuple[Path, list[str]]:
    addresses = [f"reader{i}@example.org" for i in range(count)]
    seed = folder / "subscribers.csv"
    seed.write_text("email,name\n" + "".join(f"{a},قارئ\n" for a in addresses), encoding="utf-8")
    return seed, addresses


def test_killed_mid_edition_then_rerun_misses_nobody_and_repeats_at_most_one_per_connection(
    tmp_path: Path,
) -> None:
    handler = Slow(0.01)
    seed, addresses = write_seed(tmp_path, 200)
    store_url = f"sqlite:///{tmp_path / 'feedpub.db'}"
    with smtp_server(handler) as port:
        path = tmp_path / "config.yaml"
        text = config_text(store_url, port, seed=seed, batch=20, connections=4)
        path.write_text(text, encoding="utf-8")
        first = cli(path, "run")
        deadline = time.monotonic() + 60
        while len(handler.delivered) < 30 and time.monotonic() < deadline:
            assert first.poll() is None, finish(first)
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        finish(first)
        sent_before = len(handler.delivered)
        assert 30 <= sent_before < 200
        # Two minutes on: the dead run's claims (stale_after 1m) are taken over.
        code, out, err = finish(cli(path, "-v", "run", now="2026-11-29T08:02:00+03:00"))
    assert code == 0, err
    assert "nothing due" in out  # the edition was recorded before sending: no second one
    counts = Counter(handler.recipients())
    assert set(counts) == set(addresses)
    # Each of the 4 connections may have had one message accepted, not recorded.
    assert sum(counts.values()) - len(addresses) <= 4, counts.most_common(5)


@pytest.mark.postgres
def test_two_senders_at_once_on_postgresql_send_everyone_exactly_once(
    tmp_path: Path, store_url: str
) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("the race is between machines sharing PostgreSQL")
    with SqlStore.open(store_url) as store:
        addresses = add_readers(store, 300)
    handler = Slow(0.04)
    with smtp_server(handler) as port:
        # Two machines: each its own folder (public/, outbox), one store.
        paths = [tmp_path / name / "config.yaml" for name in ("one", "two")]
        for path in paths:
            path.parent.mkdir()
            text = config_text("sqlite:///unused.db", port, batch=10, connections=2)
            path.write_text(text, encoding="utf-8")
        env = {"FEEDPUB_STORE_URL": store_url}
        # The articles in first; then the leader makes the edition and sends
        # (`digest` holds the run lock, as `run` does), while a second machine
        # runs a sender only (`deliver`), which waits for the edition and
        # shares its delivery.
        code, _, err = finish(cli(paths[0], "ingest", **env))
        assert code == 0, err
        procs = [
            cli(paths[0], "-v", "digest", "daily", **env),
            cli(paths[1], "-v", "deliver", "daily", "--wait", "30", **env),
        ]
        results = [finish(p) for p in procs]
    for code, _, err in results:
        assert code == 0, err
    assert Counter(handler.recipients()) == Counter({a: 1 for a in addresses})
    delivered = [int(re.search(r"(\d+) delivered", out).group(1)) for _, out, _ in results]  # type: ignore[union-attr]
    assert sum(delivered) == 300 and all(delivered), delivered
    with SqlStore.open(store_url) as store:
        assert len(store.editions("daily")) == 1


@pytest.mark.parametrize(
    ("environ", "password"),
    [
        ({"FEEDPUB_SMTP_PASSWORD": "from-env"}, "from-env"),
        ({"CREDENTIALS_DIRECTORY": "{creds}"}, "from-credential"),
        ({"FEEDPUB_SMTP_PASSWORD": "", "CREDENTIALS_DIRECTORY": "{creds}"}, "from-credential"),
        ({}, None),
    ],
)
def test_the_relay_password_comes_from_the_environment_or_a_credential(
    tmp_path: Path, environ: dict[str, str], password: str | None
) -> None:
    from feedpub.config import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text(
        config_text("sqlite:///x.db", 2525).replace(
            "    security: none\n", "    security: none\n    username: feedpub\n"
        ),
        encoding="utf-8",
    )
    cfg = load_config(path)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "feedpub_smtp_password").write_text("from-credential\n", encoding="utf-8")
    env = {key: value.format(creds=creds) for key, value in environ.items()}
    if password is None:
        with pytest.raises(ConfigError, match=r"no password: set \$FEEDPUB_SMTP_PASSWORD or"):
            make_sender(cfg.delivery, env, cfg.path)
        return
    sender = make_sender(cfg.delivery, env, cfg.path)
    assert isinstance(sender, SmtpPool)
    assert {relay.settings.password for relay in sender.relays} == {password}
    sender.close()
