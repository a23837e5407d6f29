"""The email message: headers, MIME structure, recipient parts, golden files.

Golden files under tests/golden/ hold whole messages (Message-ID, Date and
MIME boundaries scrubbed) and their decoded parts; FEEDPUB_REGEN_GOLDEN=1
rewrites them (review the diff before committing).
"""

from __future__ import annotations

import dataclasses
import os
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from _digest_fixtures import (
    DAILY,
    DAMASCUS,
    EMAIL,
    NOW,
    FakeStore,
    articles,
    big_articles,
    make_site,
)
from feedpub.config import EmailConfig
from feedpub.delivery import Outbox
from feedpub.digests import RenderedEdition, Site, plan_edition, render_edition
from feedpub.digests.message import build_message
from feedpub.model import Article

GOLDEN = Path(__file__).parents[1] / "golden"
REGEN = os.environ.get("FEEDPUB_REGEN_GOLDEN") == "1"
TO = "سامي <sami@example.com>"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What a message is built from besides the rendered edition."""

    site: Site
    email: EmailConfig = EMAIL


@pytest.fixture
def cfg(tmp_path: Path) -> Inputs:
    return Inputs(make_site(tmp_path))


def render(cfg: Inputs, stored: list[Article] | None = None, count: int = 15) -> RenderedEdition:
    daily = dataclasses.replace(DAILY, max_items=count)
    planned = plan_edition(FakeStore(stored or articles()), daily, NOW, tz=DAMASCUS)
    assert planned is not None
    return render_edition(planned, cfg.site, cfg.email)


@pytest.fixture
def rendered(cfg: Inputs) -> RenderedEdition:
    return render(cfg)


def build(rendered: RenderedEdition, cfg: Inputs, token: str | None = "t0k/+=") -> EmailMessage:
    return build_message(
        rendered, DAILY, cfg.site, cfg.email, to=TO, unsubscribe_token=token, now=NOW
    )


def reparsed(message: EmailMessage) -> EmailMessage:
    # As a local mail store would keep it: LF line ends.
    raw = message.as_bytes().replace(b"\r\n", b"\n")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def scrub(raw: bytes) -> str:
    text = raw.decode("ascii").replace("\r\n", "\n")
    text = re.sub(r"(?m)^Message-ID: .*$", "Message-ID: <SCRUBBED>", text)
    text = re.sub(r"(?m)^Date: .*$", "Date: SCRUBBED", text)
    for boundary in set(re.findall(r'boundary="([^"]+)"', text)):
        text = text.replace(boundary, "BOUNDARY")
    return text


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
    assert path.exists(), f"{path} missing: run with FEEDPUB_REGEN_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


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
