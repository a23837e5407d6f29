"""Debian's dovecot-imapd as a test instance of its own: its own config
file (``dovecot -F -c FILE``), base and state directories, IMAP on
127.0.0.1 on a free port (no TLS: loopback), one user from a passwd-file,
serving a Maildir of the test's (``LAYOUT=fs``: the folder "processed" is
``<maildir>/processed/``, beside new/ and cur/, as feedpub's Maildir reader
lays it out). The master runs in the foreground as the test's child.

The system's own dovecot is never started (``.ci/run`` installs the
package with a policy-rc.d that refuses, and stops and disables it after).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.servers import (
    HOST,
    MAIL_GID,
    MAIL_UID,
    free_port,
    needs_root,
    remove_folder,
    server_folder,
    stop_pid,
    wait_for_greeting,
)

USERNAME = "bounces"
PASSWORD = "imap-test-password-4711"
START_TIMEOUT = 30.0


@dataclass
class Dovecot:
    root: Path
    port: int
    maildir: Path
    process: subprocess.Popen[bytes]
    username: str = USERNAME
    password: str = PASSWORD

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"


def _config(root: Path, maildir: Path, port: int) -> str:
    return f"""\
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
instance_name = feedpub-test-{port}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{maildir}:LAYOUT=fs
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_GID} home={root}/home
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def start_dovecot(root: Path, maildir: Path) -> Dovecot:
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists() or not Path("/usr/lib/dovecot/imap").exists():
        pytest.skip("Debian's dovecot-imapd is not installed (.ci/run installs it)")
    needs_root("a dovecot")
    port = free_port()
    for folder in ("run", "state", "home"):
        (root / folder).mkdir(parents=True)
    shutil.chown(root / "home", MAIL_UID, MAIL_GID)
    config = root / "dovecot.conf"
    config.write_text(_config(root, maildir, port), "utf-8")
    (root / "users").write_text(f"{USERNAME}:{{PLAIN}}{PASSWORD}\n", "utf-8")
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Dovecot(root, port, maildir, process)
    wait_for_greeting(port, b"* OK", START_TIMEOUT, "dovecot", server.log)
    return server


def stop_dovecot(server: Dovecot) -> None:
    stop_pid(server.process.pid)
    server.process.wait(timeout=10)


@pytest.fixture
def dovecot_for() -> Iterator[Callable[[Path], Dovecot]]:
    """A factory: ``dovecot_for(maildir)`` starts a test dovecot serving
    that Maildir; every one started is stopped and cleaned up after."""
    started: list[tuple[Path, Dovecot | None]] = []

    def start(maildir: Path) -> Dovecot:
        root = server_folder("feedpub-dovecot-")
        started.append((root, None))
        server = start_dovecot(root, maildir)
        started[-1] = (root, server)
        return server

    try:
        yield start
    finally:
        for root, server in started:
            if server is not None:
                stop_dovecot(server)
            remove_folder(root)
