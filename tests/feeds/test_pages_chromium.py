"""index.html, a topic page and an article page as a browser lays them out
with the build's style.css: Debian's headless chromium at 375 px (a phone)
and 1200 px. Right to left, no horizontal overflow, the stylesheet applied
(the colour band), touch-sized controls, one column of readable length.

Measured by ``support.chromium_pages`` (an iframe of the wanted width, a
script in a test-only copy). The stylesheet's absolute URL points at the
built file, remote images at a local picture: nothing leaves the machine.
The digests' web archive and the web app's pages: ``tests/web/test_pages_look.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feedpub import output
from feedpub.feeds import pages
from feedpub.feeds.site import SiteValues
from support.chromium_pages import CHROMIUM, measure
from support.feedfactory import (
    FEEDS_URL,
    PUTIN,
    SITE,
    article,
    feeds_config,
    plan_for,
    render,
    sample_articles,
)

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

_PICTURE = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1600' height='900'%3E"
    "%3Crect width='1600' height='900' fill='%23b8c0cc'/%3E%3C/svg%3E"
)

# An article that could push a phone's page sideways: a wide picture, a
# long unbroken URL, a wide table, a long word.
_WIDE = (
    '<p><img src="https://news.example.org/img/wide.jpg" alt="صورة" width="1600" height="900"></p>'
    "<p>رابط https://news.example.org/" + "a" * 120 + "/ في النص.</p>"
    "<table><tr>" + "<td>خلية عريضة جداً</td>" * 12 + "</tr></table>"
    "<p>" + "كلمةطويلةجداًبلامسافات" * 6 + "</p>"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """name -> page HTML, as written by a build, ready for a browser."""
    public = tmp_path_factory.mktemp("site") / "public"
    cfg = feeds_config(public)
    tree = render(plan_for(sample_articles()), cfg)
    output.sync_tree(public, tree.outputs, output.read_manifest(public))
    wide = article(1, PUTIN, url=None, content=_WIDE, title="خبر " * 30)
    article_page = pages.render(SiteValues.of(SITE, cfg), wide, {PUTIN.key: "x"})
    found = {
        "index": (public / "index.html").read_text("utf-8"),
        "topic": (public / "tag/بوتين/index.html").read_text("utf-8"),
        "article": article_page.decode("utf-8"),
    }
    style = (public / "style.css").as_uri()
    return {
        name: re.sub(r'src="https://[^"]+"', f'src="{_PICTURE}"', html).replace(
            f"{FEEDS_URL}/style.css", style
        )
        for name, html in found.items()
    }


@pytest.mark.parametrize("width", [375, 1200])
@pytest.mark.parametrize("name", ["index", "topic", "article"])
def test_pages_read_right_to_left_in_the_digests_look_without_overflow(
    tmp_path: Path, built: dict[str, str], name: str, width: int
) -> None:
    data = measure(tmp_path, built[name], width)
    assert data["innerWidth"] == width, "chromium did not lay out at the requested width"
    assert data["scrollWidth"] <= width, f"horizontal overflow: {data['scrollWidth']} > {width}"
    assert data["direction"] == "rtl"
    assert data["band"] == "rgb(138, 28, 43)", "style.css was not applied"
    page = data["page"]
    if width == 375:
        assert (page["left"], page["right"]) == (0, 375)  # the whole phone
    else:
        # One centred column of about 44rem: lines a reader can follow.
        assert 600 <= page["right"] - page["left"] <= 760, page
        assert abs(page["left"] - (width - page["right"])) <= 1, page
    assert data["heading"] <= page["right"] + 0.5  # headings start at the right
    assert data["controls"], "no control measured"
    for control in data["controls"]:
        assert control["height"] >= 44 and control["width"] >= 44, control
