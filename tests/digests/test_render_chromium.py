"""The digest as a browser lays it out: Debian's headless chromium at 600px
(desktop mail column) and 375px (phone).

Measured from the page itself: a test-only copy of the HTML gets a script
that records, with getBoundingClientRect, where each article title's right
edge sits against its cell's content edge and whether anything overflows
horizontally, and writes that as JSON into a <pre>; ``--dump-dom`` returns
it. Screenshots of the clean copies land in test-artifacts/ (gitignored).

Headless chromium never makes a window narrower than 500px (``--window-size``
375 still lays out at 500), so each page is shown in an iframe of the wanted
width inside a small wrapper page; media queries answer to the iframe's width.
The script writes into the wrapper (``--allow-file-access-from-files`` makes
the two file:// pages one origin).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from feedpub import templating
from feedpub.digests import RenderedEdition, Site, plan_edition, render_edition
from feedpub.digests.message import personalize
from support.digest_fixtures import (
    DAILY,
    DAMASCUS,
    EMAIL,
    NOW,
    FakeStore,
    articles,
    big_articles,
    make_site,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
RUN_TIMEOUT = 60  # seconds per chromium run: a loaded 2-core machine starts it slowly

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

# A grey 16:9 picture in place of the remote images: the layout gets real
# image boxes without any network access.
_PICTURE = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1104' height='621'%3E"
    "%3Crect width='1104' height='621' fill='%23b8c0cc'/%3E%3C/svg%3E"
)

_MEASURE = """<script>
(function () {
  var out = {innerWidth: window.innerWidth,
             scrollWidth: document.documentElement.scrollWidth, titles: []};
  var column = document.querySelector("table.container, .page").getBoundingClientRect();
  out.column = {left: column.left, right: column.right};
  document.querySelectorAll("h2 a").forEach(function (link) {
    var box = link.closest("td, article");
    var style = getComputedStyle(box);
    var outer = box.getBoundingClientRect();
    out.titles.push({
      text: link.textContent,
      right: link.getBoundingClientRect().right,
      contentRight: outer.right - parseFloat(style.paddingRight)
        - parseFloat(style.borderRightWidth),
      boxRight: outer.right
    });
  });
  parent.document.getElementById("measured").textContent = JSON.stringify(out);
})();
</script>"""


def chromium(tmp_path: Path, page: Path, width: int, height: int, *extra: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
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
        # Nothing may leave the machine: every host name fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        *extra,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def framed(tmp_path: Path, html: str, width: int, height: int, name: str) -> Path:
    """A wrapper page showing ``html`` in an iframe ``width`` px wide."""
    inner = tmp_path / f"{name}-{width}-inner.html"
    inner.write_text(html, encoding="utf-8")
    wrapper = tmp_path / f"{name}-{width}.html"
    wrapper.write_text(
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe src="{inner.name}" width="{width}" height="{height}"'
        ' style="border:0;display:block"></iframe>'
        '<pre id="measured"></pre></body></html>',
        encoding="utf-8",
    )
    return wrapper


def measure(tmp_path: Path, html: str, width: int, name: str) -> dict[str, Any]:
    measured = html.replace("</body>", _MEASURE + "</body>")
    page = framed(tmp_path, measured, width, 2000, f"{name}-measure")
    dom = chromium(tmp_path, page, max(width, 600), 2000, "--dump-dom")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found and found.group(1), "the measuring script did not run"
    data: dict[str, Any] = json.loads(found.group(1).replace("&amp;", "&"))
    return data


def screenshot(tmp_path: Path, html: str, width: int, height: int, name: str) -> Path:
    page = framed(tmp_path, html, width, height, name)
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}-{width}.png"
    target.unlink(missing_ok=True)
    # The window is cut to width x height; the iframe sits at its top left.
    chromium(tmp_path, page, width, height, f"--screenshot={target}")
    assert target.exists() and target.stat().st_size > 10_000
    return target


def for_browser(html: str) -> str:
    return re.sub(r'src="https://[^"]+\.jpg"', f'src="{_PICTURE}"', html)


def rendered_for(site: Site, stored: list[Any]) -> RenderedEdition:
    planned = plan_edition(FakeStore(stored), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    return render_edition(planned, site, EMAIL)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(email HTML as a recipient gets it, archive page), images local; the
    archive page's stylesheet is the one the feed build writes."""
    site = make_site(tmp_path_factory.mktemp("site"))
    rendered = rendered_for(site, articles())
    html, _ = personalize(rendered, EMAIL, to="سامي <sami@example.com>", unsubscribe_token="t0k")
    style = (templating.templates_dir() / "feeds" / "style.css").as_uri()
    archive = rendered.archive_html.replace(f'href="{site.style_url}"', f'href="{style}"')
    return for_browser(html), for_browser(archive)


def assert_right_aligned(data: dict[str, Any], width: int, count: int) -> None:
    assert data["innerWidth"] == width, "chromium did not lay out at the requested width"
    assert data["scrollWidth"] <= width, f"horizontal overflow: {data['scrollWidth']} > {width}"
    assert len(data["titles"]) == count
    for title in data["titles"]:
        assert abs(title["right"] - title["contentRight"]) <= 2, title
        assert title["boxRight"] <= width + 0.5, title


def test_email_column_is_centred_in_a_wide_window(tmp_path: Path, demo: tuple[str, str]) -> None:
    # A desktop client's reading pane is wider than the 600px column: the
    # column sits in the middle (not stuck to the right edge), and inside it
    # every title still ends at the right edge of its cell.
    width = 1200
    data = measure(tmp_path, demo[0], width, "digest")
    assert_right_aligned(data, width, len(articles()))
    column = data["column"]
    assert abs(column["right"] - column["left"] - 600) <= 1, column
    assert abs(column["left"] - (width - column["right"])) <= 1, column
    assert all(abs(t["boxRight"] - column["right"]) <= 1 for t in data["titles"])
    screenshot(tmp_path, demo[0], width, 900, "digest")


@pytest.mark.parametrize("width", [600, 375])
def test_email_titles_hug_the_right_edge_without_overflow(
    tmp_path: Path, demo: tuple[str, str], width: int
) -> None:
    data = measure(tmp_path, demo[0], width, "digest")
    assert_right_aligned(data, width, len(articles()))
    # The column fills the window: 600px wide, or all of a phone's width.
    assert all(abs(t["boxRight"] - width) <= 1 for t in data["titles"])
    screenshot(tmp_path, demo[0], width, 1900 if width == 375 else 1500, "digest")


def test_email_without_the_style_block_keeps_its_layout(
    tmp_path: Path, demo: tuple[str, str]
) -> None:
    # Clients that strip <style> get the inline styles only.
    stripped = re.sub(r"<style>.*?</style>", "", demo[0], flags=re.S)
    assert "<style>" not in stripped
    assert_right_aligned(measure(tmp_path, stripped, 600, "digest-nostyle"), 600, len(articles()))


def test_fifteen_item_email_on_a_phone(tmp_path: Path) -> None:
    rendered = rendered_for(make_site(tmp_path), big_articles(15))
    html, _ = personalize(rendered, EMAIL, to="x@example.com", unsubscribe_token="t0k")
    assert_right_aligned(measure(tmp_path, for_browser(html), 375, "digest15"), 375, 15)


@pytest.mark.parametrize("width", [600, 375])
def test_archive_page_titles_right_without_overflow(
    tmp_path: Path, demo: tuple[str, str], width: int
) -> None:
    assert_right_aligned(measure(tmp_path, demo[1], width, "archive"), width, len(articles()))
    if width == 375:
        screenshot(tmp_path, demo[1], width, 1900, "archive")


@pytest.mark.parametrize("width", [600, 375])
def test_alert_title_hugs_the_right_edge_without_overflow(tmp_path: Path, width: int) -> None:
    from feedpub.digests import alert_slot, plan_alerts
    from feedpub.digests.plan import PlannedEdition
    from support.alert_stories import NOW as ALERT_NOW
    from support.alert_stories import story
    from support.digest_fixtures import BREAKING

    (article,) = plan_alerts(FakeStore([story("latakia")]), BREAKING, ALERT_NOW, tz=DAMASCUS).send
    slot = alert_slot(article)
    planned = PlannedEdition(BREAKING, slot.astimezone(DAMASCUS), None, slot, (article,))
    rendered = render_edition(planned, make_site(tmp_path), EMAIL)
    html, _ = personalize(rendered, EMAIL, to="سامي <sami@example.com>", unsubscribe_token="t0k")
    data = measure(tmp_path, for_browser(html), width, "alert")
    assert_right_aligned(data, width, 1)
    assert all(abs(t["boxRight"] - width) <= 1 for t in data["titles"])
    screenshot(tmp_path, for_browser(html), width, 1100, "alert")
