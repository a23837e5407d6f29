"""The email message: headers, MIME structure, recipient parts, golden files.

Golden files under tests/golden/ hold whole messages (Message-ID, Date and
MIME boundaries scrubbed) and their decoded parts; FEEDPUB_REGEN_GOLDEN=1
rewrites them (review the diff before committing).
"""

from __future__ import annotations

import dataclasses
import re
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from feedpub.delivery import Outbox
from feedpub.digests import RenderedEdition
from feedpub.digests.message import build_message, prepare_message
from support.digest_fixtures import DAILY, EMAIL, NOW, articles, big_articles, make_site
from support.digest_message import Inputs, build, check_golden, render, reparsed, scrub


@pytest.fixture
def cfg(tmp_path: Path) -> Inputs:
    return Inputs(make_site(tmp_path))


@pytest.fixture
def rendered(cfg: Inputs) -> RenderedEdition:
    return render(cfg)


def test_whole_message_matches_golden(rendered: RenderedEdition, cfg: Inputs) -> None:
    message = build(rendered, cfg)
    check_golden("daily.eml", scrub(message.as_bytes()))
    parsed = reparsed(message)
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    assert html is not None and text is not None
    check_golden("daily.html", html.get_content())
    check_golden("daily.txt", text.get_content())


def test_message_without_token_matches_golden(rendered: RenderedEdition, cfg: Inputs) -> None:
    message = build(rendered, cfg, token=None)
    check_golden("daily-no-token.eml", scrub(message.as_bytes()))


def test_headers(rendered: RenderedEdition, cfg: Inputs) -> None:
    parsed = reparsed(build(rendered, cfg))
    assert parsed["Subject"] == "أخبار الشام: أهم الأخبار ليوم السبت، ٢٨ تشرين الثاني ٢٠٢٦"
    assert parsed["Subject"] == rendered.subject
    assert parsed["From"].addresses[0].display_name == "أخبار الشام"
    assert parsed["From"].addresses[0].addr_spec == "news@news.example.org"
    assert parsed["Reply-To"] == "editor@news.example.org"
    assert parsed["To"].addresses[0].display_name == "سامي"
    assert parsed["Date"] == format_datetime(NOW)
    assert re.fullmatch(r"<[^@<>]+@news\.example\.org>", parsed["Message-ID"])
    assert parsed["List-Id"] == "النشرة اليومية <daily.news.example.org>"
    assert parsed["List-Unsubscribe"] == (
        "<https://news.example.org/unsubscribe/daily/t0k%2F%2B%3D>, "
        "<mailto:unsubscribe@news.example.org?subject=unsubscribe%20t0k%2F%2B%3D>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Content-Language"] == "ar"


def test_raw_headers_are_ascii_and_rfc2047_encoded(rendered: RenderedEdition, cfg: Inputs) -> None:
    raw = build(rendered, cfg).as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # raises on any raw UTF-8
    assert b"Subject: =?utf-8?" in head
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head


def test_mime_structure(rendered: RenderedEdition, cfg: Inputs) -> None:
    parsed = reparsed(build(rendered, cfg))
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"


@pytest.mark.parametrize("count", [5, 40])
def test_no_line_over_998_bytes(cfg: Inputs, count: int) -> None:
    stored = articles() if count == 5 else big_articles(count)
    raw = build(render(cfg, stored, count), cfg).as_bytes()
    longest = max(len(line) for line in raw.split(b"\r\n"))
    assert longest <= 998, longest


def test_recipient_parts_filled_in(rendered: RenderedEdition, cfg: Inputs) -> None:
    parsed = reparsed(build(rendered, cfg, token="a b&c"))
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    assert html is not None and text is not None
    html_body, text_body = html.get_content(), text.get_content()
    for body in (html_body, text_body):
        assert "%%" not in body
        assert "مرحباً سامي،" in body
    # Percent-encoded for the URL, then HTML-escaped for the attribute.
    assert 'href="https://news.example.org/unsubscribe/daily/a%20b%26c"' in html_body
    assert "\nhttps://news.example.org/unsubscribe/daily/a%20b%26c\n" in text_body


def test_unsubscribe_url_template_with_query_is_escaped_in_html(tmp_path: Path) -> None:
    email = dataclasses.replace(
        EMAIL, unsubscribe_url="https://news.example.org/u?list=daily&t={token}"
    )
    cfg = Inputs(make_site(tmp_path), email)
    parsed = reparsed(build(render(cfg), cfg, token="abc"))
    html = parsed.get_body(("html",))
    assert html is not None
    assert 'href="https://news.example.org/u?list=daily&amp;t=abc"' in html.get_content()
    assert parsed["List-Unsubscribe"].startswith("<https://news.example.org/u?list=daily&t=abc>")


def test_without_token_no_one_click(rendered: RenderedEdition, cfg: Inputs) -> None:
    parsed = reparsed(build(rendered, cfg, token=None))
    assert parsed["List-Unsubscribe"] == (
        "<mailto:unsubscribe@news.example.org?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] is None
    html = parsed.get_body(("html",))
    assert html is not None
    assert 'href="mailto:unsubscribe@news.example.org?subject=unsubscribe"' in html.get_content()


def test_given_message_id_is_used(rendered: RenderedEdition, cfg: Inputs) -> None:
    message = build_message(
        rendered,
        DAILY,
        cfg.site,
        cfg.email,
        to="x@example.com",
        unsubscribe_token=None,
        now=NOW,
        message_id="<daily-20261128@news.example.org>",
    )
    assert message["Message-ID"] == "<daily-20261128@news.example.org>"
    assert message["To"] == "x@example.com"


def test_plain_greeting_without_a_name(rendered: RenderedEdition, cfg: Inputs) -> None:
    message = build_message(
        rendered, DAILY, cfg.site, cfg.email, to="x@example.com", unsubscribe_token=None, now=NOW
    )
    text = reparsed(message).get_body(("plain",))
    assert text is not None
    assert "\u200fمرحباً،\n" in text.get_content()


def test_http_unsubscribe_url_gets_no_one_click(tmp_path: Path) -> None:
    # RFC 8058: one-click needs an https URI; an http one is still listed.
    email = dataclasses.replace(EMAIL, unsubscribe_url="http://news.example.org/u/{token}")
    cfg = Inputs(make_site(tmp_path), email)
    parsed = reparsed(build(render(cfg), cfg, token="abc"))
    assert parsed["List-Unsubscribe"].startswith("<http://news.example.org/u/abc>, <mailto:")
    assert parsed["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("token", [None, "abc"])
def test_international_site_domain_gives_ascii_headers(tmp_path: Path, token: str | None) -> None:
    # The feeds accept an international host; the message must still be
    # writable (headers are ASCII) with Message-ID and List-Id on that domain.
    cfg = Inputs(
        dataclasses.replace(
            make_site(tmp_path), url="https://أخبار.example", domain="أخبار.example"
        ),
        dataclasses.replace(
            EMAIL,
            unsubscribe_url="https://أخبار.example/إلغاء/{token}",
            unsubscribe_mailto="unsubscribe@أخبار.example",
        ),
    )
    message = build(render(cfg), cfg, token=token)
    head = message.as_bytes().split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # raises on raw UTF-8
    parsed = reparsed(message)
    domain = "xn--igbicxr.example"
    assert parsed["Message-ID"].endswith(f"@{domain}>")
    assert parsed["List-Id"].endswith(f"<daily.{domain}>")
    mailto = f"mailto:unsubscribe@{domain}?subject=unsubscribe"
    if token is None:
        assert parsed["List-Unsubscribe"] == f"<{mailto}>"
    else:
        assert parsed["List-Unsubscribe"] == (
            f"<https://{domain}/%D8%A5%D9%84%D8%BA%D8%A7%D8%A1/abc>, <{mailto}%20abc>"
        )
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_long_token_keeps_list_unsubscribe_readable(
    rendered: RenderedEdition, cfg: Inputs, tmp_path: Path
) -> None:
    # A real token is long and opaque; a URI longer than a line must not make
    # the standard library encode the header as RFC 2047 words, which no
    # client would read as URIs. Also as the outbox writes it.
    token = "Zx9" * 22
    message = build(rendered, cfg, token=token)
    web = f"https://news.example.org/unsubscribe/daily/{token}"
    mailto = f"mailto:unsubscribe@news.example.org?subject=unsubscribe%20{token}"
    outbox = Outbox(tmp_path)
    result = outbox.send(message, "daily-long-token")
    assert result.status == "sent"
    outbox.sync()
    written = Path(result.detail).read_bytes()
    for raw, end in ((message.as_bytes(), "\r\n"), (written, "\n")):
        head = raw.split((end * 2).encode(), 1)[0].decode("ascii")
        assert f"List-Unsubscribe: <{web}>,{end} <{mailto}>{end}" in head
        assert all(len(line) <= 998 for line in head.split(end))
    assert reparsed(message)["List-Unsubscribe"] == f"<{web}>, <{mailto}>"


# --- the message prepared once per variant -------------------------------------------


@pytest.mark.parametrize("linesep", [b"\r\n", b"\n"])
@pytest.mark.parametrize(
    "name",
    [
        "سامي",  # one RFC 2047 word, written by hand
        "Sami Haddad",  # plain ASCII
        None,  # no display name: the bare address and a plain greeting
        'Odd "quoted" <name>',  # specials: encoded, never a second address
        "سامي بن عبد الرحمن الدمشقي الحلبي",  # longer than one word: the stdlib folds it
    ],
)
def test_prepared_message_equals_the_built_one(
    rendered: RenderedEdition, cfg: Inputs, name: str | None, linesep: bytes
) -> None:
    address = "sami@example.com"
    to = str(Address(display_name=name, addr_spec=address)) if name else address
    built = build_message(
        rendered,
        DAILY,
        cfg.site,
        cfg.email,
        to=to,
        unsubscribe_token="t0k/+=",
        preferences_token="pr3f/+=",
        now=NOW,
        message_id="<feedpub.1.2@news.example.org>",
    )
    raw = prepare_message(rendered, DAILY, cfg.site, cfg.email).fill(
        name=name,
        address=address,
        unsubscribe_token="t0k/+=",
        preferences_token="pr3f/+=",
        message_id="<feedpub.1.2@news.example.org>",
        date=format_datetime(NOW),
        linesep=linesep,
    )
    assert (b"\r\n" in raw) == (linesep == b"\r\n") and b"\r\r" not in raw
    head, body = raw.split(linesep * 2, 1)
    assert max(len(line) for line in body.split(linesep)) <= 78  # quoted-printable keeps to 76
    # A display name is one encoded-word, longer than a line if it must be.
    long_name = len((name or "").encode("utf-8")) > 45
    assert max(len(line) for line in head.split(linesep)) <= (998 if long_name else 78)
    prepared = message_from_bytes(raw, policy=policy.default)
    expected = message_from_bytes(built.as_bytes().replace(b"\r\n", linesep), policy=policy.default)
    assert isinstance(prepared, EmailMessage) and isinstance(expected, EmailMessage)
    assert not prepared.defects and not any(p.defects for p in prepared.walk())
    assert list(prepared.keys()) == list(expected.keys())
    for header in expected:
        if header != "Content-Type":  # the boundary differs
            assert str(prepared[header]) == str(expected[header]), header
    for kind in ("plain", "html"):
        got, want = prepared.get_body((kind,)), expected.get_body((kind,))
        assert got is not None and want is not None
        assert got.get_content() == want.get_content(), kind
        assert got["Content-Transfer-Encoding"] == "quoted-printable"


def test_prepared_message_fills_every_recipient_by_position(cfg: Inputs) -> None:
    # Titles that look like slot markers or like the placeholders stay text.
    tricky = [
        dataclasses.replace(a, title=f"%%UNSUBSCRIBE_URL%% feedpubplace {a.title}")
        for a in articles()
    ]
    rendered = render(cfg, tricky)
    prepared = prepare_message(rendered, DAILY, cfg.site, cfg.email)
    for i in range(3):
        raw = prepared.fill(
            name=f"قارئ {i}",
            address=f"r{i}@example.org",
            unsubscribe_token=f"u{i}",
            preferences_token=f"p{i}",
            message_id=f"<m{i}@news.example.org>",
            date=format_datetime(NOW),
        )
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        assert message["To"].addresses[0].addr_spec == f"r{i}@example.org"
        assert message["Message-ID"] == f"<m{i}@news.example.org>"
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        for body in (text.get_content(), html.get_content()):
            assert body.count(f"https://news.example.org/unsubscribe/daily/u{i}") == 1
            assert body.count(f"https://news.example.org/preferences/p{i}") == 1
            assert "%%UNSUBSCRIBE_URL%% feedpubplace" in body
            assert "مرحباً قارئ " in body  # the digit is wrapped as LTR in the HTML
