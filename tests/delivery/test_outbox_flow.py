"""The whole flow into the outbox at volume: every message byte-valid (both
parts, the recipient's own headers and links), the footer's preferences
link opening that recipient's page over real HTTP, and the edition recorded
together with its deliveries (a failure while queueing records neither)."""

from __future__ import annotations

import http.client
import re
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from feedpub import web
from feedpub.app import make_publisher
from feedpub.config import Config, load_config
from feedpub.store import SqlStore, StoreError
from feedpub.subscribers import StoreSubscriptions
from feedpub.tokens import preferences_scope, read_token
from support.delivery_site import NOW, SECRET, add_readers, config_text
from support.web_app import serving


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


def outbox_cfg(folder: Path, batch: int = 50) -> Config:
    path = folder / "config.yaml"
    text = config_text("sqlite:///unused.db", 25, batch=batch).replace(
        "backend: smtp", "backend: outbox"
    )
    path.write_text(text.replace("outbox: var/outbox", f"outbox: {folder / 'outbox'}"), "utf-8")
    return load_config(path)


def run_digest(cfg: Config, store: SqlStore, now: datetime = NOW) -> Any:
    with make_publisher(cfg, now=now, store=store) as pub:
        pub.ingest()
        return pub.digest("daily")


def written(folder: Path) -> dict[str, EmailMessage]:
    """The outbox's messages by recipient address."""
    found = {}
    for path in (folder / "outbox" / "new").iterdir():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found[message["To"].addresses[0].addr_spec] = message
    return found


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_every_message_is_whole_and_carries_its_recipients_own_values(
    tmp_path: Path, store: SqlStore
) -> None:
    # Batches of 50 over 120 recipients: the last batch is a partial one.
    addresses = add_readers(store, 120)
    store.add_subscriber("lina@example.org", NOW - timedelta(days=1), status="active")
    outcome = run_digest(outbox_cfg(tmp_path), store)
    messages = written(tmp_path)
    assert len(outcome.delivered) == 121 and sorted(messages) == sorted(
        [*addresses, "lina@example.org"]
    )
    assert not any((tmp_path / "outbox" / "tmp").iterdir())
    message_ids = set()
    for address, message in messages.items():
        assert not message.defects and not any(p.defects for p in message.walk())
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        web_url = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
        assert web_url is not None
        token = web_url.group(1).rsplit("/", 1)[1]
        assert read_token(SECRET.encode(), "unsubscribe", "daily", token) == address
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Date"].datetime.tzinfo is not None
        message_ids.add(message["Message-ID"])
        text, html = parts(message)
        assert text.count(web_url.group(1)) == 1 and html.count(web_url.group(1)) == 1
        name = message["To"].addresses[0].display_name
        assert (f"مرحباً {name}،" if name else "مرحباً،") in text
        raw_lines = message.as_bytes().split(b"\n")
        assert max(len(line) for line in raw_lines) <= 998
    assert len(message_ids) == 121


def preferences_link(message: EmailMessage) -> str:
    text, html = parts(message)
    in_text = re.findall(r"https://news\.example\.org/preferences/\S+", text)
    in_html = re.findall(r'href="(https://news\.example\.org/preferences/[^"]+)"', html)
    assert len(in_text) == 1 and in_html == in_text, (in_text, in_html)
    return in_text[0]


def test_the_footer_links_to_each_recipients_preferences_page(
    tmp_path: Path, store: SqlStore
) -> None:
    addresses = add_readers(store, 3)
    cfg = outbox_cfg(tmp_path)
    run_digest(cfg, store)
    messages = written(tmp_path)
    links = {address: preferences_link(messages[address]) for address in addresses}
    assert len(set(links.values())) == 3
    _, html = parts(messages[addresses[0]])
    # Beside the unsubscribe link, in the footer.
    assert re.search(r"إلغاء الاشتراك</a> · <a [^>]*href=\"https://news\.example\.org/pref", html)

    subscriptions = StoreSubscriptions(store, ["daily"], signups=store)
    app = web.make_wsgi_app(
        tmp_path / "public", subscriptions, SECRET.encode(), web.site_info(cfg), lambda: NOW
    )
    with serving(app) as port:
        for address, link in links.items():
            token = link.rsplit("/", 1)[1]
            found = store.get_subscriber(address)
            assert found is not None
            scope = preferences_scope(found.token)
            assert read_token(SECRET.encode(), "preferences", scope, token) == address
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", urlsplit(link).path)
            response = conn.getresponse()
            body = response.read().decode("utf-8")
            conn.close()
            assert response.status == 200, body
            assert 'name="digest" value="daily" checked' in body
        # An altered link opens nothing.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", urlsplit(links[addresses[0]]).path[:-2] + "xx")
        assert conn.getresponse().status in (400, 403, 404)
        conn.close()


def test_a_failure_while_queueing_records_no_edition(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_readers(store, 30)
    cfg = outbox_cfg(tmp_path)

    def broken(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise StoreError("disk full while queueing")

    import feedpub.store.editions as editions

    with monkeypatch.context() as patch, pytest.raises(StoreError):
        patch.setattr(editions, "delivery_rows", broken)
        run_digest(cfg, store)
    assert store.editions("daily") == []  # not recorded without its deliveries
    outcome = run_digest(cfg, store, NOW + timedelta(minutes=5))  # the next run makes it
    assert len(outcome.delivered) == 30
    assert len(store.editions("daily")) == 1


def test_rerun_after_a_crash_before_recording_the_batch_writes_nothing_twice(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The files of a batch were synced, then the run died before the store
    # recorded them: the next run (its claims stale) finds them, writes none
    # again and records them as sent.
    addresses = add_readers(store, 40)
    cfg = outbox_cfg(tmp_path, batch=25)

    def dies(self: SqlStore, *args: Any, **kwargs: Any) -> set[int]:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(SqlStore, "finish_deliveries", dies)
        patch.setattr(SqlStore, "release", lambda *a, **k: False)  # died: no clean-up
        run_digest(cfg, store)
    first = {p.name: p.stat().st_ino for p in (tmp_path / "outbox" / "new").iterdir()}
    assert len(first) == 25
    outcome = run_digest(cfg, store, NOW + timedelta(minutes=20))  # stale_after is 1m
    assert outcome.edition is None and outcome.resumed == 40
    after = {p.name: p.stat().st_ino for p in (tmp_path / "outbox" / "new").iterdir()}
    assert len(after) == 40 and all(after[name] == ino for name, ino in first.items())
    assert sorted(written(tmp_path)) == sorted(addresses)
    (edition,) = store.editions("daily")
    edition_id = store.edition_id("daily", edition.slot)
    assert edition_id is not None and store.delivery_counts(edition_id)["sent"] == 40
