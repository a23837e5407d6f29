"""The deployment recipes against real servers: deploy/nginx/feedpub.conf in
Debian's nginx over a public/ that feedpub itself built, and the systemd units
through systemd-analyze. Each part skips, with the reason, where its program
is missing."""

from __future__ import annotations

import configparser
import gzip
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DEPLOY = REPO / "deploy"
NOW = "2026-11-29T08:00:00+03:00"  # after the daily 07:00 slot
NGINX = Path("/usr/sbin/nginx")
MARKER = "feedpub-app-upstream"

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
store:
  url: "sqlite:///var/feedpub.db"
sources:
  - path: {pages}
  - path: {records}
tags:
  vocabulary:
    روسيا: [روسي, الروسية, موسكو]
    كورونا: [كوفيد, COVID-19]
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
"""


def feedpub(config: Path, *args: str) -> str:
    """The real CLI in a child process, as cron or systemd runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPUB_")}
    env["FEEDPUB_NOW"] = NOW
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A feedpub site dir (config.yaml, var/, public/) after one `feedpub run`."""
    root = tmp_path_factory.mktemp("site")
    pages = root / "pages"
    pages.mkdir()
    for page in (SAMPLES / "pages").iterdir():
        (pages / page.name).write_bytes(page.read_bytes())
    config = root / "config.yaml"
    config.write_text(CONFIG.format(pages=pages, records=SAMPLES / "records"), encoding="utf-8")
    out = feedpub(config, "-v", "run")  # -v: a quiet cron run prints nothing
    assert "build: " in out and "digest daily: edition" in out, out
    return root


@pytest.fixture
def leftovers(site: Path) -> Iterator[Path]:
    """What a killed build leaves behind, at the top and inside a tag folder
    (the next build removes them, so each test that needs them makes them),
    and the manifest's log that builds of a few files append to."""
    public = site / "public"
    tag_dir = next(p for p in sorted((public / "tag").iterdir()) if p.is_dir())
    made = [public / ".feedpub-tmp-abc123", tag_dir / ".feedpub-tmp-def456"]
    made.append(public / ".feedpub-manifest.log")
    for path in made:
        path.write_text("half a feed", encoding="utf-8")
    yield tag_dir / made[1].name
    for path in made:
        path.unlink(missing_ok=True)


# --- the upstream web app -------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _app(environ: dict[str, object], start_response: object) -> Iterable[bytes]:
    lines = [
        MARKER,
        f"method={environ['REQUEST_METHOD']}",
        f"path={environ.get('PATH_INFO', '')}",
        f"query={environ.get('QUERY_STRING', '')}",
        f"host={environ.get('HTTP_HOST', '')}",
        f"xff={environ.get('HTTP_X_FORWARDED_FOR', '')}",
        f"xrealip={environ.get('HTTP_X_REAL_IP', '')}",
        f"proto={environ.get('HTTP_X_FORWARDED_PROTO', '')}",
        f"xfhost={environ.get('HTTP_X_FORWARDED_HOST', '')}",
    ]
    body = ("\n".join(lines) + "\n").encode()
    start_response(  # type: ignore[operator]
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    """A stand-in for feedpub's WSGI app on a free loopback port."""
    server: WSGIServer = make_server("127.0.0.1", 0, _app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


# --- nginx ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_lacks(module: str) -> bool:
    built = subprocess.run([str(NGINX), "-V"], capture_output=True, text=True, check=False)
    return f"--without-http_{module}_module" in built.stderr


@dataclass
class Nginx:
    port: int
    public: Path

    def request(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def nginx(site: Path, upstream: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is missing (Debian's nginx package; .ci/run installs it as root)")
    public = site / "public"
    prefix = tmp_path_factory.mktemp("nginx")
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir()

    snippet = (DEPLOY / "nginx" / "feedpub.conf").read_text(encoding="utf-8")
    # The snippet's own paths, so that the test notices if they drift.
    for directive in ("alias /srv/feedpub/public/;", "proxy_pass http://127.0.0.1:8080;"):
        assert snippet.count(directive) == 1, directive
    snippet = snippet.replace("/srv/feedpub/public/", f"{public}/")
    snippet = snippet.replace("127.0.0.1:8080", f"127.0.0.1:{upstream}")
    (prefix / "feedpub.conf").write_text(snippet, encoding="utf-8")

    temp_paths = "\n".join(
        f"    {name}_temp_path {prefix / 'tmp' / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        if name in ("client_body", "proxy") or not _nginx_lacks(name)
    )
    mime_types = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    port = _free_port()
    # master_process off: one process as the test's own user (as root, no
    # worker switching to nobody, who could not read pytest's 0700 tmp dirs).
    (prefix / "nginx.conf").write_text(
        f"""\
daemon off;
master_process off;
pid {prefix / "nginx.pid"};
error_log {prefix / "logs" / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    {mime_types}
    default_type application/octet-stream;
    access_log {prefix / "logs" / "access.log"};
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
        yield Nginx(port=port, public=public)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


def _url(public: Path, pattern: str) -> tuple[str, Path]:
    """The /feeds/ URL (percent-encoded, as in the feeds) of the first file
    matching pattern, and the file."""
    if not pattern:
        return "/feeds/", public / "index.html"
    found = sorted(public.glob(pattern))
    assert found, f"feedpub wrote no {pattern}"
    path = found[0]
    return "/feeds/" + quote(path.relative_to(public).as_posix()), path


FEEDS = {
    "atom.xml": "application/atom+xml",
    "rss.xml": "application/rss+xml",
    "feed.json": "application/feed+json",
    "tag/*/atom.xml": "application/atom+xml",
    "tag/*/rss.xml": "application/rss+xml",
    "tag/*/feed.json": "application/feed+json",
    "feeds.opml": "text/x-opml",
}
PAGES = {
    "": "text/html",
    "index.html": "text/html",
    "archive/daily/index.html": "text/html",
    "archive/daily/2*.html": "text/html",
    "articles/*.html": "text/html",
    "tag/*/index.html": "text/html",  # a topic page
    "style.css": "text/css",  # applied by a browser under nosniff only as text/css
}


@pytest.mark.parametrize(("pattern", "media_type"), sorted({**FEEDS, **PAGES}.items()))
def test_content_type_by_file_name(nginx: Nginx, pattern: str, media_type: str) -> None:
    url, path = _url(nginx.public, pattern)
    status, headers, body = nginx.request(url)
    assert status == 200, url
    assert headers["Content-Type"] == f"{media_type}; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers.get("Content-Encoding") is None  # not asked for
    assert body == path.read_bytes()


def test_a_topic_page_answers_at_its_folder_url(nginx: Nginx) -> None:
    """The URL every tag feed links home to: tag/<slug>/, not .../index.html."""
    url, path = _url(nginx.public, "tag/*/index.html")
    folder = url.removesuffix("index.html")
    status, headers, body = nginx.request(folder)
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert body == path.read_bytes()


@pytest.mark.parametrize("pattern", [*FEEDS, "index.html", "archive/daily/2*.html", "style.css"])
def test_gzip_applies_to_every_type(nginx: Nginx, pattern: str) -> None:
    url, path = _url(nginx.public, pattern)
    status, headers, body = nginx.request(url, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == path.read_bytes()


@pytest.mark.parametrize("accept", ["identity", "gzip"])
def test_conditional_get_answers_304(nginx: Nginx, accept: str) -> None:
    headers = {"Accept-Encoding": accept}
    status, first, _ = nginx.request("/feeds/atom.xml", headers)
    assert status == 200
    etag, modified = first["ETag"], first["Last-Modified"]
    # gzip makes the ETag weak (W/"…"); either form must come back as 304.
    assert etag and (etag.startswith('W/"') if accept == "gzip" else etag.startswith('"'))
    assert modified

    status, again, body = nginx.request("/feeds/atom.xml", {**headers, "If-None-Match": etag})
    assert (status, body) == (304, b"")
    # The 304 has no body to compress, so it may carry the strong form.
    assert again["ETag"].removeprefix("W/") == etag.removeprefix("W/")
    assert again["X-Content-Type-Options"] == "nosniff"
    assert again["Cache-Control"] == "public, max-age=300"

    status, _, body = nginx.request("/feeds/atom.xml", {**headers, "If-Modified-Since": modified})
    assert (status, body) == (304, b"")

    status, _, _ = nginx.request("/feeds/atom.xml", {**headers, "If-None-Match": '"other"'})
    assert status == 200
    status, _, _ = nginx.request(
        "/feeds/atom.xml", {**headers, "If-Modified-Since": "Thu, 01 Jan 1970 00:00:01 GMT"}
    )
    assert status == 200


def test_a_rebuild_without_changes_keeps_the_etag(site: Path, nginx: Nginx) -> None:
    _, before, _ = nginx.request("/feeds/rss.xml")
    out = feedpub(site / "config.yaml", "build")
    assert re.search(r"build: 0 written, \d+ unchanged, 0 removed", out), out
    status, after, _ = nginx.request("/feeds/rss.xml", {"If-None-Match": before["ETag"]})
    assert status == 304
    assert after["ETag"] == before["ETag"]


@pytest.mark.parametrize(
    "url",
    [
        "/feeds/.feedpub-manifest.json",
        "/feeds/.feedpub-manifest.log",
        "/feeds/.feedpub.lock",
        "/feeds/.feedpub-tmp-abc123",
        "/feeds/%2Efeedpub-manifest.json",
        "/feeds/tag/../.feedpub.lock",
        "TAG_TEMP",
    ],
)
def test_dotfiles_are_404(nginx: Nginx, leftovers: Path, url: str) -> None:
    if url == "TAG_TEMP":
        url = "/feeds/" + quote(leftovers.relative_to(nginx.public).as_posix())
    for method in ("GET", "HEAD"):
        status, headers, body = nginx.request(url, method=method)
        assert status == 404, (method, url)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert b"half a feed" not in body and b"fingerprint" not in body


def test_manifest_and_lock_are_there_to_hide(site: Path) -> None:
    assert (site / "public" / ".feedpub-manifest.json").is_file()
    assert (site / "public" / ".feedpub.lock").exists()


@pytest.mark.parametrize(
    ("method", "url", "path", "query"),
    [
        ("GET", "/unsubscribe/tok-123?list=daily", "/unsubscribe/tok-123", "list=daily"),
        ("POST", "/unsubscribe/tok-123", "/unsubscribe/tok-123", ""),
        ("GET", "/subscribe", "/subscribe", ""),
        ("GET", "/preferences/tok-456", "/preferences/tok-456", ""),
    ],
)
def test_web_app_paths_are_proxied(
    nginx: Nginx, method: str, url: str, path: str, query: str
) -> None:
    headers = {"Host": "news.example.org", "X-Forwarded-For": "203.0.113.7"}
    if method == "POST":  # RFC 8058 one-click
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    status, response, body = nginx.request(url, headers, method=method)
    assert status == 200
    seen = dict(line.split("=", 1) for line in body.decode().splitlines()[1:])
    assert body.decode().splitlines()[0] == MARKER
    assert seen["method"] == method
    assert seen["path"] == path
    assert seen["query"] == query
    assert seen["host"] == "news.example.org"
    assert seen["xfhost"] == "news.example.org"
    assert seen["xff"] == "203.0.113.7, 127.0.0.1"
    assert seen["xrealip"] == "127.0.0.1"
    assert seen["proto"] == "http"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("url", ["/subscribers", "/unsubscribe", "/feeds/unsubscribe/x", "/"])
def test_other_paths_are_not_proxied(nginx: Nginx, url: str) -> None:
    _, _, body = nginx.request(url)
    assert MARKER.encode() not in body


# --- systemd -------------------------------------------------------------------

UNITS = ("feedpub.service", "feedpub-run.service", "feedpub-run.timer")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name, encoding="utf-8")
    return parser


def _values(name: str, section: str, key: str) -> list[str]:
    """Every value of a key that systemd allows to repeat (configparser keeps the last)."""
    text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
    part = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
    return [
        line.split("=", 1)[1].strip() for line in part.splitlines() if line.startswith(f"{key}=")
    ]


@pytest.mark.parametrize("name", ["feedpub.service", "feedpub-run.service"])
def test_service_units_are_ordered_hardened_and_get_credentials(name: str) -> None:
    unit = _unit(name)
    assert "network-online.target" in unit["Unit"]["Wants"].split()
    assert {"network-online.target", "postgresql.service"} <= set(unit["Unit"]["After"].split())
    service = unit["Service"]
    assert service["ExecStart"].endswith("feedpub serve" if name == "feedpub.service" else "run")
    assert service["Type"] == ("exec" if name == "feedpub.service" else "oneshot")
    credentials = {value.split(":", 1)[0] for value in _values(name, "Service", "LoadCredential")}
    assert credentials == {"feedpub_store_url", "feedpub_secret", "feedpub_smtp_password"}
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "true"
    writable = service["ReadWritePaths"].split()
    assert {Path(p).name for p in writable} == {"var", "public"}
    assert service["UMask"] == "0022"  # nginx must read the feeds


def test_timer_fires_every_ten_minutes_and_catches_up() -> None:
    timer = _unit("feedpub-run.timer")["Timer"]
    assert timer["OnCalendar"] == "*:0/10"
    assert timer["Persistent"] == "true"
    assert timer["Unit"] == "feedpub-run.service"


def test_cron_line_runs_feedpub_every_ten_minutes() -> None:
    lines = [
        line
        for line in (DEPLOY / "cron" / "feedpub").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#") and not re.match(r"^[A-Z]+=", line)
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert fields[:5] == ["*/10", "*", "*", "*", "*"]
    assert fields[5] == "feedpub"  # /etc/cron.d names the user
    assert fields[6].startswith("cd /srv/feedpub && ")
    assert fields[6].endswith(".venv/bin/feedpub run")


@pytest.fixture
def units_with_existing_binaries(tmp_path: Path) -> Path:
    """Copies of the units whose ExecStart names an executable that exists:
    verify checks that it does, and /srv/feedpub is not on a test machine."""
    fake = tmp_path / "bin" / "feedpub"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    fake.chmod(0o755)
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(
            text.replace("/srv/feedpub/.venv/bin/feedpub", str(fake)), encoding="utf-8"
        )
    return tmp_path


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is missing")
def test_systemd_analyze_verify(units_with_existing_binaries: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [
            SYSTEMD_ANALYZE,
            "verify",
            "--man=no",
            *(str(units_with_existing_binaries / n) for n in UNITS),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on an unknown or misspelt key and only warns: no output
    # at all is the pass.
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is missing")
def test_systemd_calendar_is_every_ten_minutes() -> None:
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", "--iterations=3", "*:0/10"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "*-*-* *:00/10:00" in done.stdout
    minutes = re.findall(r"elapse: \w+ \S+ \d\d:(\d\d):00", done.stdout)
    minutes += re.findall(r"Iter\. #\d: \w+ \S+ \d\d:(\d\d):00", done.stdout)
    assert minutes and all(int(m) % 10 == 0 for m in minutes), done.stdout


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is missing")
@pytest.mark.parametrize("name", ["feedpub.service", "feedpub-run.service"])
def test_systemd_security_exposure_is_low(units_with_existing_binaries: Path, name: str) -> None:
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [
            SYSTEMD_ANALYZE,
            "security",
            "--offline=true",
            "--no-pager",
            str(units_with_existing_binaries / name),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "offline" in done.stderr:
        pytest.skip(f"this systemd-analyze has no offline security check: {done.stderr.strip()}")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    # 0 is fully locked down, 10 is no protection; systemd calls < 2 "OK".
    assert float(found.group(1)) < 2.5, done.stdout


def _directives(text: str) -> list[str]:
    """The /feeds/ location block's lines without comments or blank lines."""
    block = re.search(r"^location \^~ /feeds/ \{\n.*?^\}", text, re.M | re.S)
    assert block, "no `location ^~ /feeds/` block"
    lines = (line.split("#", 1)[0].strip() for line in block.group(0).splitlines())
    return [line for line in lines if line]


def test_the_docs_show_the_snippet_as_it_is() -> None:
    readme = (REPO / "docs" / "feeds.md").read_text(encoding="utf-8")
    snippet = (DEPLOY / "nginx" / "feedpub.conf").read_text(encoding="utf-8")
    assert _directives(readme) == _directives(snippet)
