"""A relay that refuses a recipient with 5xx while feedpub sends counts as a
hard bounce (listmonk #2623): after the digest, that subscriber is bounced
and the next edition skips them; the VERP envelope sender reaches the relay
as MAIL FROM; a paused digest resumes by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from feedpub.app import make_publisher
from feedpub.cli import main
from feedpub.config import load_config
from feedpub.store import SqlStore
from support.mail_loop import NOW, SECRET, make_config, publish_news, subscribe
from support.smtp_relay import Recorder, smtp_server


class Picky(Recorder):
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlStore]:
    """The store the config names (sqlite beside it), with the links' secret set."""
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)
    with SqlStore.open(f"sqlite:///{tmp_path / 'feedpub.db'}") as opened:
        yield opened


def test_a_5xx_refusal_while_sending_bounces_that_subscriber(
    tmp_path: Path,
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = Picky()
    with smtp_server(handler) as port:
        cfg = make_config(tmp_path, "")
        text = cfg.path.read_text("utf-8").replace(
            "  backend: outbox\n",
            f"  backend: smtp\n  smtp:\n    host: 127.0.0.1\n    port: {port}\n"
            "    security: none\n  pause_min_deliveries: 1\n",
        )
        cfg.path.write_text(text, "utf-8")
        cfg = load_config(cfg.path)
        subscribe(store, "gone@example.org", "here@example.org")
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.ingest()
            outcome = pub.digest("daily")
        assert outcome.failed == 1
        gone = store.get_subscriber("gone@example.org")
        assert gone is not None and gone.status == "bounced"
        ((mail_from, rcpts, _),) = handler.delivered
        assert rcpts == ["here@example.org"]
        assert mail_from.startswith("bounces+") and mail_from.endswith("@news.example.org")

        # 1 of 2 bounced hard: over 5%, the digest is paused until resumed.
        monkeypatch.setenv("FEEDPUB_NOW", (NOW + timedelta(days=1)).isoformat())
        publish_news(tmp_path)
        assert main(["--config", str(cfg.path), "digest", "daily"]) == 1
        assert "paused" in capsys.readouterr().err
        assert main(["--config", str(cfg.path), "status"]) == 0
        assert "digest daily: PAUSED since" in capsys.readouterr().out
        assert main(["--config", str(cfg.path), "digests", "resume", "daily"]) == 0
        assert main(["--config", str(cfg.path), "digest", "daily"]) == 0
        assert [r for _, rs, _ in handler.delivered for r in rs] == ["here@example.org"] * 2
