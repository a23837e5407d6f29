"""DKIM: digest messages signed by ``delivery.dkim`` verify with dkimpy
against the key's DNS record (dkimpy's own ``dnsfunc`` hook, answered from the
test's public key), in the outbox (LF, as an MTA would send it with CRLF) and
over SMTP (a real aiosmtpd server on 127.0.0.1); any change to a signed
header, a second copy of one, or a changed body breaks the signature."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from feedpub.config import ConfigError, DkimConfig, load_config
from feedpub.delivery import Outbox, Outgoing, SmtpSender, SmtpSettings
from feedpub.delivery.dkim import (
    SIGNED_HEADERS,
    DkimKeyError,
    DkimSigner,
    SigningSender,
    load_signer,
)
from feedpub.digests import build_message, plan_edition, prepare_message, render_edition
from support.digest_fixtures import DAILY, DAMASCUS, EMAIL, NOW, FakeStore, articles, make_site
from support.smtp_relay import HOST, Recorder, smtp_server

SELECTOR, DOMAIN = "feedpub2026", "news.example.org"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def signer(key_pem: bytes) -> DkimSigner:
    return DkimSigner(SELECTOR, DOMAIN, key_pem)


def dns_of(signer: DkimSigner) -> Callable[..., bytes | None]:
    """dkimpy's DNS lookup, answering only the signer's record, as a
    resolver would for <selector>._domainkey.<domain>."""
    record = signer.dns_record().encode("ascii")

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


def verifies(data: bytes, signer: DkimSigner) -> bool:
    return bool(dkim.verify(data, dnsfunc=dns_of(signer)))


@pytest.fixture(scope="module")
def digest_message(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A subscriber's digest, made as the composer makes it (prepared once,
    filled per recipient), CRLF line ends as sent."""
    site = make_site(tmp_path_factory.mktemp("site"))
    planned = plan_edition(FakeStore(articles()), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    rendered = render_edition(planned, site, EMAIL)
    return prepare_message(rendered, DAILY, site, EMAIL).fill(
        name="سامي",
        address="sami@example.com",
        unsubscribe_token="u-token",
        preferences_token="p-token",
        message_id="<feedpub.7.abcdefgh@news.example.org>",
        date=format_datetime(NOW),
    )


NOW_RFC = format_datetime(NOW).encode()


def head_of(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


# --- signing -------------------------------------------------------------------------


def test_a_signed_digest_verifies_with_dkimpy(signer: DkimSigner, digest_message: bytes) -> None:
    signed = signer.sign(digest_message, now=NOW)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple;")
    assert signed.endswith(digest_message)
    assert verifies(signed, signer)
    assert all(len(line) <= 78 for line in head_of(signed).split(b"\r\n")[:12])


def test_the_signature_covers_the_headers_receivers_need(
    signer: DkimSigner, digest_message: bytes
) -> None:
    signed = signer.sign(digest_message)
    header = re.sub(rb"\r\n[ \t]+", b" ", head_of(signed).split(b"\r\nSubject:", 1)[0])
    covered = {name.strip() for name in re.search(rb"h=([^;]+);", header)[1].split(b":")}  # type: ignore[index]
    required = {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"list-id",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"feedback-id",
    }
    assert required <= covered
    assert b"t=" not in header  # no clock given, no time


def lines_of_header(data: bytes, name: bytes) -> tuple[int, int]:
    """(start, end) byte offsets of the header ``name`` with its
    continuation lines, in a CRLF message."""
    match = re.search(rb"(?im)^" + re.escape(name) + rb":.*(?:\r\n[ \t].*)*\r\n", data)
    # The first match is the message's own header: the DKIM-Signature's
    # lines start with a tab, the parts' headers come after.
    assert match is not None, name
    return match.start(), match.end()


@pytest.mark.parametrize("name", [n.encode() for n in SIGNED_HEADERS])
def test_changing_a_signed_header_breaks_the_signature(
    signer: DkimSigner, digest_message: bytes, name: bytes
) -> None:
    # The subscriber's digest has every header of SIGNED_HEADERS.
    signed = signer.sign(digest_message)
    start, end = lines_of_header(signed, name)
    tampered = signed[:start] + signed[start : end - 2] + b"x\r\n" + signed[end:]
    assert verifies(signed, signer) and not verifies(tampered, signer)


@pytest.mark.parametrize("name", [b"From", b"Subject", b"List-Unsubscribe", b"Feedback-ID"])
def test_adding_a_second_copy_of_a_signed_header_breaks_it(
    signer: DkimSigner, digest_message: bytes, name: bytes
) -> None:
    signed = signer.sign(digest_message)
    cut = signed.index(b"\r\n\r\n") + 2
    tampered = signed[:cut] + name + b": forged\r\n" + signed[cut:]
    assert not verifies(tampered, signer)


def test_changing_the_body_breaks_it_adding_a_trace_header_does_not(
    signer: DkimSigner, digest_message: bytes
) -> None:
    signed = signer.sign(digest_message)
    body_at = signed.index(b"\r\n\r\n") + 4
    changed = signed[:body_at] + signed[body_at:].replace(b"u-token", b"x-token", 1)
    assert changed != signed and not verifies(changed, signer)
    # What relays add on the way (and what is not signed) leaves it valid.
    relayed = b"Received: from relay.example.org by mx.example.com; " + NOW_RFC + b"\r\n" + signed
    assert verifies(relayed, signer)
    refolded = signed.replace(b"\r\nSubject: ", b"\r\nSubject:   ", 1)  # relaxed header canon
    assert verifies(refolded, signer)


def test_a_message_with_lf_line_ends_is_signed_for_the_wire(
    signer: DkimSigner, digest_message: bytes
) -> None:
    # The outbox keeps LF; the MTA that drains it sends CRLF.
    lf = digest_message.replace(b"\r\n", b"\n")
    signed = signer.sign(lf, b"\n")
    assert b"\r" not in signed
    assert verifies(signed.replace(b"\n", b"\r\n"), signer)


def test_the_time_given_is_the_signatures_time(signer: DkimSigner, digest_message: bytes) -> None:
    when = datetime(2026, 11, 28, 4, 30, tzinfo=UTC)
    signed = signer.sign(digest_message, now=when)
    assert b"t=%d;" % int(when.timestamp()) in head_of(signed)
    assert verifies(signed, signer)


def test_bytes_that_are_not_a_message_are_refused(signer: DkimSigner) -> None:
    with pytest.raises(ValueError, match="no empty line"):
        signer.sign(b"Subject: x\r\nno body separator")
    with pytest.raises(ValueError, match="not a header line"):
        signer.sign(b"this is not a header\r\n\r\nbody")


# --- the key -------------------------------------------------------------------------


def test_the_dns_record_is_the_public_key(signer: DkimSigner) -> None:
    assert signer.dns_name() == "feedpub2026._domainkey.news.example.org"
    assert re.fullmatch(r"v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+=*", signer.dns_record())


def test_keys_that_cannot_sign_are_refused_at_start(key_pem: bytes) -> None:
    with pytest.raises(DkimKeyError, match="not an unencrypted PEM private key"):
        DkimSigner(
            SELECTOR, DOMAIN, b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
        )
    with pytest.raises(DkimKeyError, match="an RSA key is needed"):
        DkimSigner(SELECTOR, DOMAIN, pem(ec.generate_private_key(ec.SECP256R1())))
    # Pasted into an environment variable with its line breaks written "\n".
    flat = key_pem.strip().replace(b"\n", b"\\n")
    assert DkimSigner(SELECTOR, DOMAIN, flat).dns_record()


def test_the_key_comes_from_the_environment_or_a_credential(key_pem: bytes, tmp_path: Path) -> None:
    config = DkimConfig(SELECTOR, DOMAIN)
    assert load_signer(None, {}) is None
    with pytest.raises(ConfigError, match=r"no private key: set \$FEEDPUB_DKIM_KEY"):
        load_signer(config, {})
    from_env = load_signer(config, {"FEEDPUB_DKIM_KEY": key_pem.decode()})
    (tmp_path / "feedpub_dkim_key").write_bytes(key_pem)
    from_file = load_signer(config, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert from_env is not None and from_file is not None
    assert from_env.dns_record() == from_file.dns_record()
    with pytest.raises(ConfigError, match=r"delivery\.dkim: the key in \$FEEDPUB_DKIM_KEY"):
        load_signer(config, {"FEEDPUB_DKIM_KEY": "not a key"})
    with pytest.raises(ConfigError, match=r"^/etc/feedpub\.yaml: delivery\.dkim is set"):
        load_signer(config, {}, Path("/etc/feedpub.yaml"))


# --- every backend carries the signature ------------------------------------------


def test_the_outbox_keeps_signed_messages(
    signer: DkimSigner, digest_message: bytes, tmp_path: Path
) -> None:
    outbox = SigningSender(Outbox(tmp_path / "outbox"), signer, clock=lambda: NOW)
    assert outbox.linesep == b"\n" and outbox.idempotent
    lf = digest_message.replace(b"\r\n", b"\n")
    outgoing = Outgoing(lf, "news@news.example.org", ("sami@example.com",), "<m@x>", b"\n")
    result = outbox.send(outgoing, "daily-sami")
    assert result.status == "sent"
    outbox.sync()
    written = Path(result.detail).read_bytes()
    # The envelope sender, written by the outbox, then the signature.
    assert written.startswith(b"Return-Path: <news@news.example.org>\nDKIM-Signature:")
    assert verifies(written.replace(b"\n", b"\r\n"), signer)
    outbox.close()


def test_an_email_message_is_signed_too(signer: DkimSigner, tmp_path: Path) -> None:
    # The editors' copy is an EmailMessage, not prepared bytes.
    site = make_site(tmp_path)
    planned = plan_edition(FakeStore(articles()), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    message = build_message(
        render_edition(planned, site, EMAIL),
        DAILY,
        site,
        EMAIL,
        to="news@news.example.org",
        unsubscribe_token=None,
        now=NOW,
    )
    outbox = SigningSender(Outbox(tmp_path / "outbox"), signer)
    result = outbox.send(message, "daily-editors")
    outbox.sync()
    assert verifies(Path(result.detail).read_bytes().replace(b"\n", b"\r\n"), signer)


def test_smtp_delivers_signed_messages(signer: DkimSigner, digest_message: bytes) -> None:

    recorder = Recorder()
    with smtp_server(recorder) as port:
        settings = SmtpSettings(HOST, port, "none", None, None, timeout=10.0)
        sender = SigningSender(SmtpSender(settings), signer, clock=lambda: NOW)
        for i in range(3):
            data = digest_message.replace(b"sami@example.com", f"r{i}@example.com".encode())
            outgoing = Outgoing(data, "news@news.example.org", (f"r{i}@example.com",), f"<{i}@x>")
            assert sender.send(outgoing, f"daily-{i}").status == "sent"
        sender.close()
    assert len(recorder.delivered) == 3
    for _, _, content in recorder.delivered:
        assert verifies(content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), signer)


# --- config ---------------------------------------------------------------------------

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}"
    from: "أخبار الشام <news@news.example.org>"
delivery:
{dkim}
"""


def config_with(tmp_path: Path, dkim_yaml: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(dkim=dkim_yaml), encoding="utf-8")
    return path


def test_config_reads_selector_and_domain(tmp_path: Path) -> None:
    cfg = load_config(config_with(tmp_path, "  dkim: {selector: feedpub2026, domain: Example.ORG}"))
    assert cfg.delivery.dkim == DkimConfig("feedpub2026", "example.org")
    assert load_config(config_with(tmp_path, "  backend: outbox")).delivery.dkim is None


@pytest.mark.parametrize(
    ("dkim_yaml", "problem"),
    [
        (
            "  dkim: {selector: s1, domain: news.example.org, private_key: x}",
            r"delivery\.dkim\.private_key: secrets never go in the file: set \$FEEDPUB_DKIM_KEY",
        ),
        ("  dkim: {selector: 'two words', domain: example.org}", r"delivery\.dkim\.selector"),
        ("  dkim: {selector: s1, domain: localhost}", r"delivery\.dkim\.domain: must be a domain"),
        ("  dkim: {selector: s1}", r"delivery\.dkim\.domain: is required"),
        (
            "  dkim: {selector: s1, domain: other.example}",
            r"delivery\.dkim\.domain: other\.example is not the domain of digests\[0\]\.from",
        ),
    ],
)
def test_config_problems_name_the_key(tmp_path: Path, dkim_yaml: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(config_with(tmp_path, dkim_yaml))


def test_an_unsigned_header_layout_change_needs_no_new_key(
    signer: DkimSigner, digest_message: bytes
) -> None:
    # A message without Reply-To or List-Unsubscribe-Post (the editors' copy)
    # signs and verifies with the same signer: h= follows the message.
    trimmed = re.sub(rb"(?m)^Reply-To:.*\r\n", b"", digest_message)
    trimmed = re.sub(rb"(?m)^List-Unsubscribe-Post:.*\r\n", b"", trimmed)
    assert verifies(signer.sign(trimmed), signer)


def test_feedpub_run_signs_every_message_it_hands_to_the_outbox(
    key_pem: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's path: delivery.dkim in the config and the key in the
    environment; what a real run writes verifies, and the RFC 8058 headers
    and Feedback-ID are among the signed ones."""
    from feedpub.cli import main
    from feedpub.store import SqlStore
    from support.delivery_site import NOW as RUN_NOW
    from support.delivery_site import SECRET, add_readers, config_text

    config = tmp_path / "config.yaml"
    store_url = f"sqlite:///{tmp_path / 'feedpub.db'}"
    text = config_text(store_url, 25).replace("backend: smtp", "backend: outbox")
    text = text.replace("outbox: var/outbox", f"outbox: {tmp_path / 'outbox'}")
    text = text.replace(
        "delivery:\n", f"delivery:\n  dkim:\n    selector: {SELECTOR}\n    domain: {DOMAIN}\n"
    )
    config.write_text(text, "utf-8")
    with SqlStore.open(store_url) as store:
        add_readers(store, 3)
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)
    monkeypatch.setenv("FEEDPUB_NOW", RUN_NOW.isoformat())
    monkeypatch.setenv("FEEDPUB_DKIM_KEY", key_pem.decode())
    assert main(["--config", str(config), "run"]) == 0
    written = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(written) == 3
    signer = DkimSigner(SELECTOR, DOMAIN, key_pem)
    for path in written:
        data = path.read_bytes().replace(b"\n", b"\r\n")
        assert verifies(data, signer), path.name
        signature = " ".join(
            re.findall(rb"DKIM-Signature:.*?(?=\r\n\S)", data, re.S)[0].decode().split()
        )
        for name in ("list-unsubscribe", "list-unsubscribe-post", "feedback-id", "message-id"):
            assert name in signature.lower()
