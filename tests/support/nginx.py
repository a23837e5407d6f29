"""Debian's nginx as a test instance of its own: deploy/nginx/feedpub.conf
(the server block's part) and feedpub-http.conf (the http block's part) as
shipped, their paths pointed at the test's public/ folder and web app, a
prefix, logs and temp folders of its own, on a free loopback port."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NGINX = Path("/usr/sbin/nginx")
ACCESS_LOG = "/var/log/nginx/feedpub-web.access.log"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_lacks(module: str) -> bool:
    built = subprocess.run([str(NGINX), "-V"], capture_output=True, text=True, check=False)
    return f"--without-http_{module}_module" in built.stderr


@dataclass
class Nginx:
    port: int
    public: Path
    prefix: Path

    @property
    def web_access_log(self) -> Path:
        """Where the snippet's web app location logs (``ACCESS_LOG`` on a server)."""
        return self.prefix / "logs" / "feedpub-web.access.log"

    def request(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()


@contextmanager
def running_nginx(prefix: Path, public: Path, upstream: int) -> Iterator[Nginx]:
    """nginx with the deploy snippets, serving ``public`` under /feeds/ and
    proxying the web app's paths to 127.0.0.1:``upstream``."""
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is missing (Debian's nginx package; .ci/run installs it as root)")
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(exist_ok=True)

    snippet = (DEPLOY / "nginx" / "feedpub.conf").read_text(encoding="utf-8")
    # The snippet's own paths, so that the test notices if they drift.
    for directive in (
        "alias /srv/feedpub/public/;",
        "proxy_pass http://127.0.0.1:8080;",
        f"access_log {ACCESS_LOG} feedpub_masked;",
    ):
        assert snippet.count(directive) == 1, directive
    snippet = snippet.replace("/srv/feedpub/public/", f"{public}/")
    snippet = snippet.replace("127.0.0.1:8080", f"127.0.0.1:{upstream}")
    snippet = snippet.replace(ACCESS_LOG, str(prefix / "logs" / "feedpub-web.access.log"))
    (prefix / "feedpub.conf").write_text(snippet, encoding="utf-8")
    http_part = DEPLOY / "nginx" / "feedpub-http.conf"

    temp_paths = "\n".join(
        f"    {name}_temp_path {prefix / 'tmp' / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        if name in ("client_body", "proxy") or not nginx_lacks(name)
    )
    mime_types = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    port = free_port()
    # master_process off: one process as the test's own user (as root, no
    # worker switching to nobody, who could not read pytest's 0700 tmp dirs).
    (prefix / "nginx.conf").write_text(
        f"""\
daemon off;
master_process off;
pid {prefix / "nginx.pid"};
error_log {prefix / "logs" / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    {mime_types}
    default_type application/octet-stream;
    access_log {prefix / "logs" / "access.log"};
    include {http_part};
{temp_paths}
    server {{
        listen 127.0.0.1:{port};
        server_name news.example.org;
        include {prefix / "feedpub.conf"};
    }}
}}
""",
        encoding="utf-8",
    )
    args = [str(NGINX), "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf")]
    if (
        "-e filename"
        in subprocess.run([str(NGINX), "-h"], capture_output=True, text=True, check=False).stderr
    ):
        args += ["-e", str(prefix / "logs" / "error.log")]

    checked = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    # No warning either (a duplicate type, an ignored directive...).
    assert "[warn]" not in checked.stderr, checked.stderr

    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"nginx exited: {process.stderr.read().decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not listen within 10 s")
                time.sleep(0.05)
        yield Nginx(port=port, public=public, prefix=prefix)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
