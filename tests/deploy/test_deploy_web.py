"""``feedpub serve`` as deployed: the real service (its web app on waitress)
in a child process, behind Debian's nginx running deploy/nginx/feedpub.conf.

- Every page the app answers is reached through nginx by following the
  links a reader has: the unsubscribe link of the digest that was really
  written, the preferences link on that page, the sign-up form; the access
  log of those requests shows no token.
- 2,000 idle connections held open against the app leave it answering and
  the service's scheduled jobs running (the child starts with the soft
  open-files limit of a systemd service, 1,024, as the old host fell over at).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from support.nginx import Nginx, free_port, running_nginx
from support.outbox import mail_to, outbox_messages, wait_for_mail
from support.web_app import form_token_in

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
NOW = "2026-11-29T08:00:00+03:00"  # after the daily 07:00 slot
SECRET = "deploy-web-test-secret-0123456789"
READER = "reader@example.org"
IDLE_CONNECTIONS = 2000

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
store:
  url: "sqlite:///var/feedpub.db"
sources:
  - path: {records}
feeds:
  output: public
  url: "https://news.example.org/feeds"
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "news@news.example.org"
    first_lookback: 10d
delivery:
  outbox: var/outbox
service:
  schedule: "* * * * *"
web:
  # Idle clients are kept for the whole test, so they are all still open
  # when the next scheduled job runs.
  idle_timeout: 600
"""

LATE = {
    "id": "r-while-clients-idle",
    "title": "خبر نُشر والاتصالات الخاملة مفتوحة",
    "text": "وصل هذا الخبر بينما كان ألفا اتصال خامل مفتوحين على الخادم.\n\nويجب أن يُنشر.",
    "published": "2026-11-29T07:55:00+03:00",
}


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPUB_")}
    env["FEEDPUB_NOW"] = NOW
    env["FEEDPUB_SECRET"] = SECRET
    return env


def feedpub(config: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(config), *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _systemd_like_limits() -> None:
    """In the child before exec: the soft open-files limit of a systemd
    service without LimitNOFILE (1,024), the hard one left as it is."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


@dataclass
class Service:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def request(
        self, method: str, path: str, timeout: float = 10
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def log_text(self) -> str:
        return self.log.read_text("utf-8", "replace")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A site after one `feedpub run` (a reader subscribed, the digest in the
    outbox), then `feedpub serve` on a free port, every minute a publish."""
    root = tmp_path_factory.mktemp("site")
    records = root / "records"
    records.mkdir()
    shutil.copy(SAMPLES / "records" / "articles.jsonl", records / "articles.jsonl")
    config = root / "config.yaml"
    config.write_text(CONFIG.format(records=records), encoding="utf-8")
    feedpub(config, "subscribers", "add", READER)
    out = feedpub(config, "-v", "run")
    assert "digest daily: edition" in out, out

    port = free_port()
    log = root / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "feedpub",
                "--config",
                str(config),
                "serve",
                "--port",
                f"{port}",
            ],
            env=environment(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            preexec_fn=_systemd_like_limits,
        )
    running = Service(root, port, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, running.log_text()
            try:
                if running.request("GET", "/subscribe", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, running.log_text()
            time.sleep(0.2)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def nginx(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    prefix = tmp_path_factory.mktemp("nginx")
    with running_nginx(prefix, service.root / "public", service.port) as server:
        yield server


def unsubscribe_path(service: Service) -> str:
    """The https link of the List-Unsubscribe header of the digest the reader got."""
    (parsed,) = mail_to(outbox_messages(service.root / "var" / "outbox"), READER)
    link = re.search(r"<(https://[^>]+)>", str(parsed["List-Unsubscribe"]))
    assert link, parsed["List-Unsubscribe"]
    return urlsplit(link.group(1)).path


HOST = {"Host": "news.example.org"}


def test_every_page_of_the_app_is_reached_through_nginx(nginx: Nginx, service: Service) -> None:
    # The sign-up form, and what it answers.
    status, headers, body = nginx.request("/subscribe", HOST)
    assert status == 200 and 'name="email"' in body.decode()
    assert headers["Cache-Control"] == "no-store"  # the app's, not the files' max-age
    fields = {"csrf": form_token_in(body.decode()), "email": "new@example.org", "digest": "daily"}
    form = urlencode(fields).encode()
    form_type = {**HOST, "Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = nginx.request("/subscribe/", form_type, "POST", form)
    assert status == 200 and "تحقّق من بريدك" in body.decode()

    # The unsubscribe link of the mail, and the preferences link on its page.
    path = unsubscribe_path(service)
    status, _, body = nginx.request(path, HOST)
    assert status == 200, body
    page = body.decode()
    preferences = re.search(r'href="(/preferences/[^"]+)"', page)
    assert preferences, page
    status, _, body = nginx.request(preferences.group(1), HOST)
    assert status == 200 and READER in body.decode()
    one_click = urlencode({"List-Unsubscribe": "One-Click"}).encode()
    status, _, body = nginx.request(path, form_type, "POST", one_click)
    assert status == 200 and "تم إلغاء" in body.decode()

    # The confirmation mail the sign-up queued (serve's mailer sends it):
    # its link opens the confirm page through nginx.
    (mail,) = wait_for_mail(service.root / "var" / "outbox", "new@example.org", timeout=30)
    confirmation = mail.get_body(("plain",))
    assert confirmation is not None
    confirm_link = re.search(r"https://\S+(/confirm/\S+)", str(confirmation.get_content()))
    assert confirm_link is not None
    status, _, body = nginx.request(confirm_link.group(1), HOST)
    assert status == 200, (status, body.decode())

    # The files are nginx's own, under /feeds/.
    status, headers, _ = nginx.request("/feeds/atom.xml", HOST)
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")

    # No token in the access log, nor in the service's log.
    time.sleep(0.2)  # nginx writes the line after the answer
    logged = nginx.web_access_log.read_text(encoding="utf-8")
    tokens = [path.rsplit("/", 1)[1], preferences.group(1).rsplit("/", 1)[1]]
    tokens.append(confirm_link.group(1).rsplit("/", 1)[1])
    assert "/unsubscribe/daily/<token>" in logged and "/preferences/<token>" in logged
    assert "/confirm/<token>" in logged
    for token in tokens:
        assert token not in logged
        assert token.rsplit(".", 1)[1] not in service.log_text()  # its signature


def _open_idle(count: int, port: int) -> list[socket.socket]:
    """``count`` connections that never finish a request (half a request line)."""
    idle = []
    for _ in range(count):
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sendall(b"GET /")
        idle.append(conn)
    return idle


def test_2000_idle_connections_leave_the_app_answering_and_the_jobs_running(
    service: Service,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_CONNECTIONS + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this process may open {hard} files, the test needs {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    records = service.root / "records" / "articles.jsonl"
    atom = service.root / "public" / "atom.xml"
    idle: list[socket.socket] = []
    try:
        idle = _open_idle(IDLE_CONNECTIONS, service.port)
        # The app answers while every one of them is held.
        for path in ("/subscribe", "/atom.xml"):
            status, _, _ = service.request("GET", path, timeout=10)
            assert status == 200, path
        # A new article is published by the next scheduled job (every minute).
        with records.open("a", encoding="utf-8") as out:
            out.write(json.dumps(LATE, ensure_ascii=False) + "\n")
        deadline = time.monotonic() + 150
        while LATE["title"] not in atom.read_text(encoding="utf-8"):
            assert service.process.poll() is None, service.log_text()
            assert time.monotonic() < deadline, service.log_text()[-3000:]
            time.sleep(1)
        assert service.request("GET", "/subscribe", timeout=10)[0] == 200
        # Every idle client is still connected (none was dropped to make room).
        still = sum(1 for conn in idle[:50] if _open(conn))
        assert still == 50
    finally:
        for conn in idle:
            conn.close()
    text = service.log_text()
    assert "Too many open files" not in text, text[-3000:]
    assert not re.search(r"build failed|ingest failed", text), text[-3000:]
    limits = Path(f"/proc/{service.process.pid}/limits").read_text(encoding="utf-8")
    (files,) = [line for line in limits.splitlines() if line.startswith("Max open files")]
    assert int(files.split()[3]) >= 4000, files  # serve raised its own soft limit


def _open(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        return conn.recv(1) != b""  # data would be an answer; b"" a close
    except BlockingIOError:
        return True  # nothing to read: still open
    except OSError:
        return False
    finally:
        conn.setblocking(True)
