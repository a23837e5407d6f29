"""Debian's postfix as a test instance of its own: its own config directory
(``postfix -c DIR``), queue and data directories, listening on 127.0.0.1 only
on a free port, no DNS, logging to a file of its own.

It plays two roles at once, as one site's MTA would:

- the readers' mail host: ``mydestination`` is the readers' test domain,
  delivered by local(8), where every mailbox is unknown (no local user
  exists), so a message for a reader is accepted and then bounced with
  Postfix's own DSN (5.1.1 "unknown user");
- the site's bounce mailbox: ``virtual_mailbox_domains`` is the site's
  domain and its return-path address is a Maildir of the test's
  (``recipient_delimiter = +``, so ``bounces+<token>@`` lands there too, as
  VERP needs).

The system's own postfix is never started (``.ci/run`` installs the package
with a policy-rc.d that refuses, and stops and disables it after).
"""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import time
from collections.abc import Iterator, Sequence
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

READERS_DOMAIN = "readers.test"
SITE_DOMAIN = "news.example.org"
RETURN_PATH = f"bounces@{SITE_DOMAIN}"
UNSUBSCRIBE = f"unsubscribe@{SITE_DOMAIN}"
# A domain whose listed mailboxes (``start_postfix(readers=...)``) land in
# one Maildir, ``Postfix.readers``: the readers' side of a hand-off test.
MAILBOX_DOMAIN = "inbox.example.net"  # not .test: address checks refuse special-use names
START_TIMEOUT = 30.0

_MASTER_CF = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass
class Postfix:
    root: Path
    port: int
    config: Path
    maildir: Path  # the Maildir of the site's return-path (and unsubscribe) address
    process: subprocess.Popen[bytes]

    @property
    def readers(self) -> Path:
        """The Maildir of the ``readers`` mailboxes of ``MAILBOX_DOMAIN``."""
        return self.root / "mail" / "readers"

    @property
    def log(self) -> Path:
        return self.root / "maillog"

    def send(self, sender: str, recipients: list[str], data: bytes) -> None:
        """Hand a message over by SMTP, as feedpub's SMTP backend does."""
        with smtplib.SMTP(HOST, self.port, timeout=30) as smtp:
            smtp.sendmail(sender, recipients, data)

    def delivered(self, count: int, timeout: float = 30.0) -> list[Path]:
        """Wait until ``count`` messages sit in the Maildir's new/ (and return
        them, oldest first); fail with the log when they do not arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted((self.maildir / "new").iterdir(), key=lambda p: p.stat().st_mtime)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        pytest.fail(f"postfix delivered fewer than {count} messages; log:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text("utf-8", "replace")[-4000:] if self.log.exists() else ""


def _main_cf(root: Path, maildir_name: str) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-feedpub-test
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mx.{READERS_DOMAIN}
mydomain = {READERS_DOMAIN}
myorigin = {READERS_DOMAIN}
mydestination = {READERS_DOMAIN}
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Every recipient of the readers' domain is accepted, and bounced by local(8):
# no such user exists, so Postfix writes its own DSN.
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
biff = no
recipient_delimiter = +
virtual_mailbox_domains = {SITE_DOMAIN} {MAILBOX_DOMAIN}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/conf/vmailbox
virtual_uid_maps = static:{MAIL_UID}
virtual_gid_maps = static:{MAIL_GID}
"""


def start_postfix(root: Path, readers: Sequence[str] = ()) -> Postfix:
    binary = shutil.which("postfix") or "/usr/sbin/postfix"
    if not Path(binary).exists():
        pytest.skip("Debian's postfix is not installed (.ci/run installs it)")
    needs_root("a postfix")
    port = free_port()
    conf, mail = root / "conf", root / "mail"
    for folder in (conf, root / "queue", root / "data", mail):
        folder.mkdir(parents=True)
    (conf / "main.cf").write_text(_main_cf(root, "inbound"), "utf-8")
    (conf / "master.cf").write_text(_MASTER_CF.format(port=f"{HOST}:{port}"), "utf-8")
    mailboxes = [f"{RETURN_PATH} inbound/", f"{UNSUBSCRIBE} inbound/"]
    mailboxes += [f"{reader} readers/" for reader in readers]
    (conf / "vmailbox").write_text("\n".join(mailboxes) + "\n", "utf-8")
    shutil.chown(root / "data", "postfix")
    # virtual(8) writes as MAIL_UID; the Maildir exists before the first
    # message, as a site's would, so the reader can be pointed at it.
    maildir = mail / "inbound"
    shutil.chown(mail, MAIL_UID, MAIL_GID)
    mail.chmod(0o755)
    for box in (maildir, mail / "readers"):
        for path in [box / s for s in ("", "new", "cur", "tmp")]:
            path.mkdir(exist_ok=True)
            shutil.chown(path, MAIL_UID, MAIL_GID)
            path.chmod(0o755)
    check = subprocess.run(
        [binary, "-c", str(conf), "check"], capture_output=True, text=True, timeout=60
    )
    if check.returncode != 0:
        pytest.fail(f"postfix check failed: {check.stdout}{check.stderr}")
    # start-fg: the master stays our child, so the test can stop and reap it.
    process = subprocess.Popen(
        [binary, "-c", str(conf), "start-fg"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Postfix(root, port, conf, maildir, process)
    wait_for_greeting(port, b"220 ", START_TIMEOUT, "postfix", server.log)
    return server


def stop_postfix(server: Postfix) -> None:
    subprocess.run(
        ["postfix", "-c", str(server.config), "stop"], capture_output=True, timeout=60, check=False
    )
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stop_pid(server.process.pid)
        server.process.wait(timeout=10)


@pytest.fixture
def postfix() -> Iterator[Postfix]:
    """A running test postfix (see the module docstring), stopped and its
    folder removed after the test."""
    root = server_folder("feedpub-postfix-")
    server: Postfix | None = None
    try:
        server = start_postfix(root)
        yield server
    finally:
        if server is not None:
            stop_postfix(server)
        remove_folder(root)
