"""What the server harnesses share: a free loopback port, waiting for a
greeting, a folder the servers' own users may enter, and stopping a process
we started by its id."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import pytest

HOST = "127.0.0.1"
# The user the servers deliver and read mail as (Debian's "nobody"):
# Postfix's virtual(8) and Dovecot refuse root.
MAIL_UID = MAIL_GID = 65534


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_for_greeting(port: int, expected: bytes, timeout: float, what: str, log: Path) -> None:
    """Wait until the server on ``port`` greets with ``expected``; fail the
    test with the server's log when it does not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=2) as conn:
                greeting = conn.recv(256)
            if greeting.startswith(expected):
                return
            last = repr(greeting)
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    shown = log.read_text("utf-8", "replace")[-3000:] if log.exists() else "(no log)"
    pytest.fail(f"{what} on {HOST}:{port} did not greet within {timeout}s ({last}); log:\n{shown}")


def needs_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} of its own is started as root (this run is uid {os.geteuid()})")


def server_folder(prefix: str) -> Path:
    """A fresh folder under the system's temp folder that the servers' own
    users can enter (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """End a server process this test started, by its id: TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
