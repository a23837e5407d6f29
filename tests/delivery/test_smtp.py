"""SmtpSender against a real SMTP server (aiosmtpd, in this process, on
127.0.0.1): connection reuse, retries of 421 and dropped connections, 5xx
reported with the server's words, the rate limit, TLS and AUTH."""

from __future__ import annotations

import logging
import shutil
import smtplib
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from feedpub.delivery.smtp import SmtpSender, SmtpSettings
from support.smtp_relay import HOST, Flaky, Recorder, free_port, smtp_server


def message(i: int, to: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "النشرة <digest@news.example.org>"
    msg["To"] = f"قارئ {i} <{to or f'reader{i}@example.org'}>"
    msg["Subject"] = f"النشرة اليومية {i}"
    msg.set_content(f"\u200fمرحبا {i}\n", cte="quoted-printable")
    return msg


@contextmanager
def sender(port: int, **kwargs: Any) -> Iterator[SmtpSender]:
    waits: list[float] = []
    options: dict[str, Any] = {"security": "none", "timeout": 5.0, **kwargs}
    smtp = SmtpSender(SmtpSettings(HOST, port, **options), sleep=waits.append)
    smtp.waits = waits  # type: ignore[attr-defined]
    try:
        yield smtp
    finally:
        smtp.close()


def test_many_messages_go_over_one_connection() -> None:
    handler = Recorder()
    with smtp_server(handler) as port, sender(port) as smtp:
        results = [smtp.send(message(i), f"k{i}") for i in range(500)]
    assert {r.status for r in results} == {"sent"}
    assert len(handler.delivered) == 500
    assert len(handler.peers) == 1
    assert smtp.connections == 1
    # Envelope: the bare From address and the bare To address.
    assert handler.delivered[0][0] == "digest@news.example.org"
    assert handler.delivered[0][1] == ["reader0@example.org"]
    assert b"\r\n\r\n" in handler.delivered[0][2]


def test_421_and_a_dropped_connection_are_retried_and_nothing_is_sent_twice() -> None:
    handler = Flaky()
    with smtp_server(handler) as port, sender(port, max_attempts=4, backoff_base=0.5) as smtp:
        results = [smtp.send(message(i), f"k{i}") for i in range(40)]
        waits = list(smtp.waits)  # type: ignore[attr-defined]
    assert [r.status for r in results] == ["sent"] * 40
    assert sorted(handler.recipients()) == sorted(f"reader{i}@example.org" for i in range(40))
    assert handler.dropped
    # Each 421 or drop closed the connection; the sender opened a new one, waiting first.
    assert smtp.connections == len(handler.peers) > 1
    assert waits and all(w == 0.5 for w in waits)  # first retry waits backoff_base


def test_retries_are_bounded_then_deferred() -> None:
    class Busy(Recorder):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "451 4.3.0 Mail server temporarily rejected message"

    busy = smtp_server(Busy())
    with busy as port, sender(port, max_attempts=5, backoff_base=1.0, backoff_max=3.0) as smtp:
        result = smtp.send(message(1), "k1")
        waits = list(smtp.waits)  # type: ignore[attr-defined]
    assert result.status == "deferred"
    assert result.detail == "451 4.3.0 Mail server temporarily rejected message"
    assert waits == [1.0, 2.0, 3.0, 3.0]  # exponential, capped at backoff_max


def test_550_fails_that_message_with_the_servers_words_and_the_rest_go() -> None:
    class Picky(Recorder):
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
        ) -> str:
            if address == "gone@example.org":
                return "550 5.1.1 <gone@example.org>: Recipient address rejected"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    handler = Picky()
    with smtp_server(handler) as port, sender(port) as smtp:
        results = [
            smtp.send(message(i, "gone@example.org" if i == 2 else None), f"k{i}") for i in range(5)
        ]
    assert [r.status for r in results] == ["sent", "sent", "failed", "sent", "sent"]
    assert results[2].detail == (
        "gone@example.org: 550 5.1.1 <gone@example.org>: Recipient address rejected"
    )
    assert len(handler.delivered) == 4
    assert smtp.connections == 1  # a refusal does not cost the connection


def test_rate_limit_spaces_messages() -> None:
    handler = Recorder()
    with smtp_server(handler) as port, sender(port, rate=50.0) as smtp:
        started = time.monotonic()
        results = [smtp.send(message(i), f"k{i}") for i in range(20)]
        elapsed = time.monotonic() - started
    assert {r.status for r in results} == {"sent"}
    assert elapsed >= 0.35  # 19 gaps of 1/50 s; only a lower bound is meaningful


def test_rate_limit_is_shared_by_senders_in_threads() -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        started = time.monotonic()

        def run(first: int) -> None:
            with sender(port, rate=40.0) as smtp:
                for i in range(first, first + 5):
                    smtp.send(message(i), f"k{i}")

        threads = [threading.Thread(target=run, args=(n * 5,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    assert len(handler.delivered) == 20
    assert elapsed >= 0.4  # 20 messages at 40/s in all, not 40/s per sender


class Authenticated(Recorder):
    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        return "250 OK"


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"feedpub", b"s3cr3t")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535


def test_auth_with_username_and_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = Authenticated()
    server = {"authenticator": check_login, "auth_require_tls": False}
    with smtp_server(handler, **server) as port:
        with sender(port, username="feedpub", password="s3cr3t") as smtp:
            assert smtp.send(message(1), "k1").status == "sent"
            assert "s3cr3t" not in repr(smtp.settings)
        refused = pytest.raises(smtplib.SMTPAuthenticationError)
        with sender(port, username="feedpub", password="wrong") as smtp, refused:
            smtp.send(message(2), "k2")
        with sender(port) as smtp:
            assert smtp.send(message(3), "k3") == smtp.send(message(3), "k3")
            assert smtp.send(message(3), "k3").detail == "530 5.7.0 Authentication required"
    assert len(handler.delivered) == 1
    assert "s3cr3t" not in caplog.text


def test_unreachable_relay_raises_after_bounded_attempts() -> None:
    with sender(free_port(), max_attempts=3) as smtp:
        with pytest.raises(OSError, match="unreachable after 3 attempts"):
            smtp.send(message(1), "k1")
        assert smtp.waits == [1.0, 2.0]  # type: ignore[attr-defined]


# --- TLS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}",
         "-addext", f"subjectAltName=IP:{HOST}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_starttls_with_auth(certificate: tuple[Path, Path]) -> None:
    handler = Authenticated()
    server = {
        "tls_context": server_context(certificate),
        "require_starttls": True,
        "authenticator": check_login,
    }
    with smtp_server(handler, **server) as port:
        options = {"security": "starttls", "cafile": str(certificate[0])}
        with sender(port, username="feedpub", password="s3cr3t", **options) as smtp:
            results = [smtp.send(message(i), f"k{i}") for i in range(3)]
        # Without cafile the self-signed certificate is refused, never ignored.
        refused = pytest.raises(ssl.SSLCertVerificationError)
        with sender(port, security="starttls") as untrusting, refused:
            untrusting.send(message(9), "k9")
    assert [r.status for r in results] == ["sent"] * 3
    assert len(handler.delivered) == 3 and len(handler.peers) == 1


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    handler = Recorder()
    server = smtp_server(handler, ssl_context=server_context(certificate))
    with server as port, sender(port, security="tls", cafile=str(certificate[0])) as smtp:
        results = [smtp.send(message(i), f"k{i}") for i in range(3)]
    assert [r.status for r in results] == ["sent"] * 3
    assert len(handler.delivered) == 3 and len(handler.peers) == 1
