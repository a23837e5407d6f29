"""The registry of delivery backends: a backend registered by a test (no
other module touched) receives a real run's edition exactly once; an
unknown name is a config error naming the key, before any job runs."""

from __future__ import annotations

from collections.abc import Mapping
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from feedpub.cli import main
from feedpub.config import DeliveryConfig
from feedpub.delivery import backends
from feedpub.delivery.sender import Outgoing, SendResult
from feedpub.store import SqlStore
from support.delivery_site import NOW, SECRET, add_readers, config_text


class Memory:
    """A test-only backend: keeps each message's bytes by key."""

    idempotent = False
    linesep = b"\r\n"
    kept: dict[str, bytes]

    def __init__(self) -> None:
        self.kept = {}

    def send(self, message: EmailMessage | Outgoing, key: str) -> SendResult:
        self.kept[key] = Outgoing.of(message).data
        return SendResult("sent", f"memory:{key}")

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Memory:
    box = Memory()

    def factory(cfg: DeliveryConfig, environ: Mapping[str, str], config_path: Path) -> Memory:
        return box

    monkeypatch.setitem(backends.BACKENDS, "memory", factory)
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)
    monkeypatch.setenv("FEEDPUB_NOW", NOW.isoformat())
    return box


def _config(tmp_path: Path, backend: str) -> Path:
    path = tmp_path / "config.yaml"
    store = f"sqlite:///{tmp_path / 'feedpub.db'}"
    path.write_text(config_text(store, 25).replace("backend: smtp", f"backend: {backend}"), "utf-8")
    return path


def test_a_registered_backend_gets_each_readers_message_once(
    tmp_path: Path, memory: Memory
) -> None:
    config = _config(tmp_path, "memory")
    with SqlStore.open(f"sqlite:///{tmp_path / 'feedpub.db'}") as store:
        readers = add_readers(store, 3)
    assert main(["--config", str(config), "run"]) == 0
    sent = {
        message_from_bytes(data, policy=policy.default)["To"].addresses[0].addr_spec
        for data in memory.kept.values()
    }
    assert sent == set(readers)
    assert main(["--config", str(config), "run"]) == 0  # nothing due, nothing twice
    assert len(memory.kept) == 3


def test_an_unknown_backend_is_a_config_error_before_any_job(
    tmp_path: Path, memory: Memory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "carrier-pigeon")
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err
    assert "delivery.backend: unknown backend 'carrier-pigeon'" in err
    assert "memory" in err and "outbox" in err and "smtp" in err
    assert not (tmp_path / "feedpub.db").exists()  # no job ran: the store was not even opened
