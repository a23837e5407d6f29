"""A page as Debian's headless chromium lays it out at a given width: shown
in an iframe of that width (headless chromium lays a window out at 500 px at
least), a script in a test-only copy writes what it measured into the
wrapper page, which ``--dump-dom`` returns. Nothing leaves the machine: every
host name resolves to nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT = 20  # seconds per chromium run

# What a reader taps: feed buttons, tags, the web app's buttons, boxes and
# fields, the archive's links.
CONTROLS = (
    ".formats a, .button, .tags a, button, fieldset label, input[type=email], "
    "input[type=text], .read-more-link, .more-link, .editions a, .form-page a"
)

_MEASURE = """<script>
(function () {
  var page = document.querySelector(".page").getBoundingClientRect();
  var band = document.querySelector(".masthead");
  var main = document.querySelector("main").getBoundingClientRect();
  var controls = [];
  document.querySelectorAll(CONTROLS).forEach(function (el) {
    var box = el.getBoundingClientRect();
    controls.push({text: el.textContent || el.name, height: box.height, width: box.width});
  });
  var families = getComputedStyle(document.body).fontFamily;
  parent.document.getElementById("measured").textContent = JSON.stringify({
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    direction: getComputedStyle(document.body).direction,
    band: getComputedStyle(band).backgroundColor,
    font: families,
    page: {left: page.left, right: page.right},
    main: {left: main.left, right: main.right},
    heading: document.querySelector("h1, h2").getBoundingClientRect().right,
    controls: controls,
    scripts: document.scripts.length
  });
})();
</script>"""


def run_chromium(profile: Path, page: str, width: int, *extra: str) -> str:
    """``chromium --headless --dump-dom`` of ``page`` (a URL), a window
    ``width`` wide; the DOM after load."""
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
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        f"--window-size={max(width, 600)},1600",
        *extra,
        page,
    ]
    if "--screenshot" not in " ".join(extra):
        command.insert(-1, "--dump-dom")
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def measure(tmp_path: Path, html: str, width: int, controls: str = CONTROLS) -> dict[str, Any]:
    """What chromium measured of ``html`` (a page whose stylesheet link points
    at a file) laid out ``width`` px wide. The page's own scripts count is
    taken before the measuring script is added."""
    inner = tmp_path / f"inner-{width}.html"
    script = _MEASURE.replace("CONTROLS", json.dumps(controls))
    scripts = html.count("<script")
    inner.write_text(html.replace("</body>", script + "</body>"), encoding="utf-8")
    wrapper = tmp_path / f"wrapper-{width}.html"
    wrapper.write_text(
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe src="{inner.name}" width="{width}" height="1500" style="border:0;display:block">'
        '</iframe><pre id="measured"></pre></body></html>',
        encoding="utf-8",
    )
    dom = run_chromium(tmp_path / f"profile-{width}", wrapper.as_uri(), width)
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found and found.group(1), "the measuring script did not run"
    data: dict[str, Any] = json.loads(found.group(1).replace("&amp;", "&"))
    data["scripts"] -= 1  # the measuring script
    assert data["scripts"] == scripts
    return data
