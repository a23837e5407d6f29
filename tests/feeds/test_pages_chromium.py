"""index.html, a topic page and an article page as a browser lays them out
with the build's style.css: Debian's headless chromium at 375 px (a phone)
and 1200 px. Right to left, no horizontal overflow, the stylesheet applied
(the colour band), touch-sized controls, one column of readable length.

Each page is shown in an iframe of the wanted width (headless chromium lays
a window out at 500 px at least); a script in a test-only copy writes what
it measured into the wrapper page, which ``--dump-dom`` returns. The
stylesheet's absolute URL points at the built file, remote images at a
local picture: nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from feedpub import output
from feedpub.feeds import pages
from feedpub.feeds.site import SiteValues
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

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT = 20  # seconds per chromium run

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

_MEASURE = """<script>
(function () {
  var page = document.querySelector(".page").getBoundingClientRect();
  var band = document.querySelector(".masthead");
  var controls = [];
  document.querySelectorAll(".formats a, .button, .tags a").forEach(function (el) {
    var box = el.getBoundingClientRect();
    controls.push({text: el.textContent, height: box.height, width: box.width});
  });
  parent.document.getElementById("measured").textContent = JSON.stringify({
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    direction: getComputedStyle(document.body).direction,
    band: getComputedStyle(band).backgroundColor,
    page: {left: page.left, right: page.right},
    heading: document.querySelector("h1, h2").getBoundingClientRect().right,
    controls: controls
  });
})();
</script>"""

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


def _chromium(tmp_path: Path, page: Path, width: int) -> str:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--allow-file-access-from-files",
        f"--user-data-dir={tmp_path / f'profile-{width}'}",
        f"--window-size={max(width, 600)},1600",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def measure(tmp_path: Path, html: str, width: int) -> dict[str, Any]:
    inner = tmp_path / f"inner-{width}.html"
    inner.write_text(html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    wrapper = tmp_path / f"wrapper-{width}.html"
    wrapper.write_text(
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe src="{inner.name}" width="{width}" height="1500" style="border:0;display:block">'
        '</iframe><pre id="measured"></pre></body></html>',
        encoding="utf-8",
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', _chromium(tmp_path, wrapper, width), re.S)
    assert found and found.group(1), "the measuring script did not run"
    data: dict[str, Any] = json.loads(found.group(1).replace("&amp;", "&"))
    return data


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
