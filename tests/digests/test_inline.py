"""CSS inlining (premailer behind feedpub.digests.inline)."""

from __future__ import annotations

import re
import warnings

from lxml import html as lxml_html

from feedpub.digests.inline import inline_css
from feedpub.digests.slots import Markers

MARKERS = Markers()
GREETING = MARKERS["greeting"]
UNSUBSCRIBE_URL = MARKERS["unsubscribe_url"]

SAMPLE = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><style>
td {{ direction: rtl; text-align: right; font-family: Tahoma, Arial, "Segoe UI", sans-serif; }}
.pre {{ display: none; max-height: 0; overflow: hidden; mso-hide: all; }}
.box {{ width: 600px; -webkit-text-size-adjust: 100%; mso-line-height-rule: exactly; }}
@media only screen and (max-width: 620px) {{ .box {{ width: 100% !important; }} }}
</style></head>
<body><div class="pre">مقدمة الخبر</div>
<table class="box"><tr><td>{GREETING} مرحباً &amp; أهلاً
<a href="{UNSUBSCRIBE_URL}">إلغاء الاشتراك</a></td></tr></table></body></html>"""


def test_rules_are_copied_onto_elements() -> None:
    doc = lxml_html.fromstring(inline_css(SAMPLE))
    td_style = doc.xpath("//td")[0].get("style")
    assert "direction:rtl" in td_style and "text-align:right" in td_style
    assert "width:600px" in doc.xpath("//table")[0].get("style")


def test_email_only_properties_survive() -> None:
    # cssutils validation would drop these; the preheader needs mso-hide.
    out = inline_css(SAMPLE)
    assert "mso-hide:all" in out
    assert "-webkit-text-size-adjust:100%" in out


def test_media_query_kept_with_important() -> None:
    out = inline_css(SAMPLE)
    style = re.search(r"<style>(.*?)</style>", out, re.S)
    assert style is not None
    assert "@media only screen and (max-width: 620px)" in style.group(1)
    assert re.search(r"width:\s*100%\s*!important", style.group(1))


def test_slot_markers_pass_through_unchanged() -> None:
    out = inline_css(SAMPLE)
    assert f'href="{UNSUBSCRIBE_URL}"' in out
    assert GREETING in out
    body = MARKERS.split(out)
    assert body.slots == ("greeting", "unsubscribe_url")
    assert body.chunks[1].endswith('href="')


def test_arabic_stays_characters_not_entities() -> None:
    # Numeric entities would triple the size of every Arabic letter.
    out = inline_css(SAMPLE)
    assert "مرحباً &amp; أهلاً" in out
    assert "&#" not in out


def test_no_warnings_escape() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inline_css(SAMPLE)
