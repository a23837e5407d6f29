"""Images in the email: a type every mail client shows (else the configured
fallback, else none), width and height attributes from the known size
(scaled to the column), the same width inline with height:auto, and alt text
always; the web archive keeps the image as published."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import html as lxml_html

from feedpub.config import ConfigError, EmailConfig, load_config
from feedpub.digests import plan_edition, render_edition
from feedpub.digests.images import displayed_size, fallback_url, mail_image, unshown_type
from feedpub.digests.slots import Slot
from feedpub.model import Article
from support.digest_fixtures import (
    DAILY,
    DAMASCUS,
    EMAIL,
    NOW,
    FakeStore,
    articles,
    make_config,
    make_site,
)

FALLBACK = "https://news.example.org/{path}.jpg"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://cdn.example.org/a/photo.webp", "webp"),
        ("https://cdn.example.org/a/PHOTO.AVIF", "avif"),
        ("https://cdn.example.org/a/photo.heic", "heic"),
        ("https://cdn.example.org/a/logo.svg", "svg"),
        ("https://cdn.example.org/img?id=7&fm=avif", "avif"),
        ("https://cdn.example.org/img/7?format=webp&w=800", "webp"),
        ("https://cdn.example.org/a/photo.jpg", None),
        ("https://cdn.example.org/a/photo.jpeg?v=2", None),
        ("https://cdn.example.org/a/photo.png", None),
        ("https://cdn.example.org/a/anim.gif", None),
        ("https://cdn.example.org/webp/photo.jpg", None),  # a folder named webp is not a type
        ("https://cdn.example.org/a/photo", None),  # unknown: sent as it is
    ],
)
def test_types_mail_clients_do_not_show(url: str, kind: str | None) -> None:
    assert unshown_type(url) == kind


@pytest.mark.parametrize(
    ("pattern", "url", "expected"),
    [
        (
            FALLBACK,
            "https://cdn.example.org/media/2026/x.webp",
            FALLBACK.format(path="media/2026/x"),
        ),
        (
            "https://img.example.org/convert?src={url}&fm=jpg",
            "https://cdn.example.org/a b/x.avif",
            "https://img.example.org/convert?src=https%3A%2F%2Fcdn.example.org%2Fa%20b%2Fx.avif"
            "&fm=jpg",
        ),
        (
            "https://{host}/jpeg/{path}.jpg",
            "https://cdn.example.org/x.webp",
            "https://cdn.example.org/jpeg/x.jpg",
        ),
        ("//{host}/{path}.jpg", "https://cdn.example.org/x.webp", None),  # not http(s)
        ("", "https://cdn.example.org/x.webp", None),  # no fallback configured
        ("https://news.example.org/{path}.webp", "https://cdn.example.org/x.webp", None),
    ],
)
def test_fallback_urls(pattern: str, url: str, expected: str | None) -> None:
    assert fallback_url(url, pattern) == expected


@pytest.mark.parametrize(
    ("width", "height", "shown"),
    [
        (1200, 675, (552, 310)),  # scaled to the column, proportions kept
        (552, 400, (552, 400)),
        (300, 200, (300, 200)),  # never scaled up
        (5000, 1, (552, 1)),  # a banner keeps at least a pixel
        (None, None, (552, None)),  # unknown: the column, height left to the client
        (800, None, (552, None)),
        (0, 0, (552, None)),
    ],
)
def test_displayed_size(
    width: int | None, height: int | None, shown: tuple[int, int | None]
) -> None:
    assert displayed_size(width, height, 552) == shown


def test_an_image_that_would_not_show_is_replaced_or_left_out() -> None:
    def image(url: str | None, fallback: str) -> tuple[str, int, int | None] | None:
        made = mail_image(url, alt="صورة", width=1600, height=900, max_width=552, fallback=fallback)
        return None if made is None else (made.url, made.width, made.height)

    webp = "https://cdn.example.org/x.webp"
    assert image(webp, FALLBACK) == ("https://news.example.org/x.jpg", 552, 310)
    assert image(webp, "") is None
    assert image(None, FALLBACK) is None


# --- in the rendered email -----------------------------------------------------------

VALUES: dict[Slot, str] = {"greeting": "", "unsubscribe_url": "https://u.example/x"}


def render(tmp_path: Path, stored: list[Article], email: EmailConfig = EMAIL) -> tuple[str, str]:
    planned = plan_edition(FakeStore(stored), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    rendered = render_edition(planned, make_site(tmp_path), email)
    return rendered.html.fill(VALUES), rendered.archive_html


def stories() -> list[Article]:
    """The demo's five: a photo with its size and alt text, a WebP, an AVIF
    from an image CDN, a small PNG, one without a size."""
    base = articles()
    return [
        dataclasses.replace(
            base[0], image_width=1600, image_height=900, image_alt="الرئيسان في الكرملين"
        ),
        dataclasses.replace(base[1], image="https://cdn.example.org/2026/11/covid.webp"),
        dataclasses.replace(base[2], image="https://img.example.org/r/9?fm=avif&w=1200"),
        dataclasses.replace(
            base[3], image="https://cdn.example.org/festival.png", image_width=320, image_height=180
        ),
        dataclasses.replace(base[4], image="https://cdn.example.org/gold.jpg"),
    ]


def images_by_title(document: str) -> dict[str, lxml_html.HtmlElement | None]:
    doc = lxml_html.document_fromstring(document)
    found: dict[str, lxml_html.HtmlElement | None] = {}
    for title in doc.xpath("//h2"):
        container = title.getparent()
        imgs = container.xpath(".//img")
        found[" ".join(title.text_content().split())] = imgs[0] if imgs else None
    return found


def test_images_carry_size_alt_and_a_type_every_client_shows(tmp_path: Path) -> None:
    email = dataclasses.replace(EMAIL, image_fallback=FALLBACK)
    html, _ = render(tmp_path, stories(), email)
    found = images_by_title(html)
    titles = [a.title for a in articles()]
    photo, webp, avif, small, unsized = (found[t] for t in titles)
    assert photo is not None and webp is not None and small is not None and unsized is not None
    assert avif is not None
    assert (photo.get("width"), photo.get("height")) == ("552", "310")
    assert photo.get("alt") == "الرئيسان في الكرملين"
    assert webp.get("src") == "https://news.example.org/2026/11/covid.jpg"
    assert webp.get("alt") == titles[1]  # no alt text of its own: the title
    assert avif is not None  # the CDN's format parameter is not part of {path}
    assert avif.get("src") == "https://news.example.org/r/9.jpg"
    assert (small.get("width"), small.get("height")) == ("320", "180")
    assert unsized.get("width") == "552" and unsized.get("height") is None
    for img in (photo, webp, avif, small, unsized):
        style = img.get("style").replace(" ", "")
        assert "height:auto" in style and f"width:{img.get('width')}px" in style
        assert img.get("alt")
    assert "webp" not in html and "avif" not in html


def test_without_a_fallback_unshown_images_are_left_out(tmp_path: Path) -> None:
    html, archive = render(tmp_path, stories())
    found = images_by_title(html)
    assert found[articles()[1].title] is None and found[articles()[2].title] is None
    assert len(found) == 5  # the articles themselves are all there
    # The web archive shows the images as published: browsers show WebP.
    web = images_by_title(archive)
    webp = web[articles()[1].title]
    assert webp is not None and webp.get("src").endswith("covid.webp")
    photo = web[articles()[0].title]
    assert photo is not None
    assert (photo.get("width"), photo.get("height"), photo.get("alt")) == (
        "1600",
        "900",
        "الرئيسان في الكرملين",
    )


def test_the_configured_width_sizes_every_image(tmp_path: Path) -> None:
    email = dataclasses.replace(EMAIL, image_width=400)
    html, _ = render(tmp_path, stories(), email)
    found = images_by_title(html)
    photo, unsized = found[articles()[0].title], found[articles()[4].title]
    assert photo is not None and unsized is not None
    assert (photo.get("width"), photo.get("height")) == ("400", "225")
    assert unsized.get("width") == "400"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"image_width": 700}, r"email\.image_width: must be between 100 and 552"),
        ({"image_fallback": "https://news.example.org/x.jpg"}, r"email\.image_fallback: must be"),
        ({"image_fallback": "ftp://x.example.org/{path}.jpg"}, r"email\.image_fallback: must be"),
    ],
)
def test_image_settings_are_checked(
    tmp_path: Path, settings: dict[str, object], problem: str
) -> None:
    text = tmp_path / "config.yaml"
    make_config(tmp_path)
    lines = "".join(f"  {key}: {value!r}\n" for key, value in settings.items())
    text.write_text(
        text.read_text(encoding="utf-8").replace("email:\n", "email:\n" + lines), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=problem):
        load_config(text)


def test_image_settings_are_read(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    assert (cfg.email.image_width, cfg.email.image_fallback) == (552, "")
    path = tmp_path / "config.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "email:\n", f"email:\n  image_width: 480\n  image_fallback: '{FALLBACK}'\n"
        ),
        encoding="utf-8",
    )
    loaded = load_config(path).email
    assert (loaded.image_width, loaded.image_fallback) == (480, FALLBACK)
