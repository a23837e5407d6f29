from __future__ import annotations

import pytest

from feedpub.text.sanitize import clean_html, html_paragraphs, paragraphs_to_html, strip_tags


@pytest.mark.parametrize(
    ("dirty", "forbidden", "kept"),
    [
        ("<p>نص</p><script>alert(1)</script>", ["script", "alert"], "<p>نص</p>"),
        ("<style>p{color:red}</style><p>نص</p>", ["style", "color"], "<p>نص</p>"),
        (
            '<iframe src="https://evil.example/">بديل</iframe><p>نص</p>',
            ["iframe", "بديل"],
            "<p>نص</p>",
        ),
        ('<p onclick="steal()">نص</p>', ["onclick", "steal"], "<p>نص</p>"),
        ('<img src="x.jpg" onerror="steal()">', ["onerror"], '<img src="x.jpg">'),
        ('<a href="javascript:alert(1)">رابط</a>', ["javascript", "href"], "<a>رابط</a>"),
        ('<a href="JaVaScRiPt:alert(1)">رابط</a>', ["alert", "href"], "<a>رابط</a>"),
        ('<p style="position:fixed">نص</p>', ["style", "fixed"], "<p>نص</p>"),
        ('<p class="x" id="y">نص</p>', ["class", "id="], "<p>نص</p>"),
        ("<object data='x'>بديل</object><embed src='y'>", ["object", "embed", "بديل"], ""),
        ("<form><input name='q'><button>ابحث</button></form>", ["form", "input", "ابحث"], ""),
        ("<!-- تعليق --><p>نص</p>", ["تعليق", "<!--"], "<p>نص</p>"),
        ('<a href="https://x.example/" target="_blank">رابط</a>', ["target", "rel"], "رابط</a>"),
        ("<div><p>نص</p></div>", ["div"], "<p>نص</p>"),
    ],
)
def test_dangerous_markup_is_removed(dirty: str, forbidden: list[str], kept: str) -> None:
    clean = clean_html(dirty)
    for word in forbidden:
        assert word not in clean
    assert kept in clean


@pytest.mark.parametrize(
    "markup",
    [
        "<p>فقرة</p>",
        '<a href="https://news.example.org/a" title="عنوان">رابط</a>',
        '<a href="mailto:editor@news.example.org">راسلنا</a>',
        '<a href="/news/1">نسبي</a>',
        "<strong>قوي</strong><em>مائل</em><b>عريض</b><i>مائل</i>",
        '<img src="https://news.example.org/i.jpg" alt="صورة" width="800" height="600">',
        "<ul><li>أ</li></ul><ol><li>ب</li></ol>",
        "<blockquote>اقتباس</blockquote>",
        '<figure><img src="https://x.example/i.png"><figcaption>تعليق</figcaption></figure>',
        "<h2>٢</h2><h3>٣</h3><h4>٤</h4><h5>٥</h5><h6>٦</h6>",
        "<p>سطر<br>سطر</p>",
        '<span dir="ltr" lang="en">COVID-19</span>',
    ],
)
def test_news_markup_is_kept(markup: str) -> None:
    assert clean_html(markup) == markup


def test_text_is_escaped_not_interpreted() -> None:
    assert clean_html("5 < 6 & 7 > 3") == "5 &lt; 6 &amp; 7 &gt; 3"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<b>عاجل</b>: خبر", "عاجل: خبر"),
        ("AT&amp;T &lt;3", "AT&T <3"),
        ("<script>alert(1)</script>عنوان", "عنوان"),
        ("a < b", "a < b"),
        ("نص عادي", "نص عادي"),
    ],
)
def test_strip_tags_gives_plain_text(html: str, text: str) -> None:
    assert strip_tags(html) == text


def test_html_paragraphs_splits_blocks() -> None:
    html = "<p>أول <b>فقرة</b></p><p>  </p><p>ثانية<br>ثالثة</p><ul><li>بند</li></ul><h2>عنوان</h2>"
    assert html_paragraphs(html) == ["أول فقرة", "ثانية", "ثالثة", "بند", "عنوان"]


def test_paragraphs_to_html_escapes_each_paragraph() -> None:
    assert paragraphs_to_html(["أ < ب", "<script>x</script>", "ج & د"]) == (
        "<p>أ &lt; ب</p><p>&lt;script&gt;x&lt;/script&gt;</p><p>ج &amp; د</p>"
    )


def _all_code_points() -> list[str]:
    return [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def test_strip_tags_passes_text_through_as_nh3_does() -> None:
    """``strip_tags`` skips nh3 for text without NUL, CR, <, & or BOM: nh3
    gives every other code point back unchanged, alone, first, last and
    inside text (checked in batches, each batch one nh3 call)."""
    import html

    from feedpub.text.sanitize import _PLAIN_REWRITTEN, _TEXT_ONLY

    def through_nh3(text: str) -> str:
        return html.unescape(str(_TEXT_ONLY.clean(text)))

    kept = [ch for ch in _all_code_points() if not _PLAIN_REWRITTEN.search(ch)]
    assert "\r" not in kept and "<" not in kept
    # strip_tags rules out the rest of them with isprintable.
    assert not any(ch.isprintable() for ch in "\x00\r\ufeff\xa0")
    for start in range(0, len(kept), 4000):
        batch = kept[start : start + 4000]
        inside = " ".join(f"a{ch}b" for ch in batch)
        assert through_nh3(inside) == inside
    # First and last in the text (a leading BOM is dropped by nh3).
    for ch in kept:
        if not ch.isalnum():
            assert through_nh3(f"{ch}x{ch}") == f"{ch}x{ch}", hex(ord(ch))
    assert strip_tags("\ufeffنص") == "نص" and strip_tags("a\r\nb") == "a\nb"


def test_clean_paragraphs_html_is_clean_html_of_the_escaped_paragraphs() -> None:
    from feedpub.text.sanitize import _ESCAPED_REWRITTEN, clean_paragraphs_html

    kept = [ch for ch in _all_code_points() if not _ESCAPED_REWRITTEN.search(ch)]
    for start in range(0, len(kept), 4000):
        paragraphs = [f"{ch}a{ch}" for ch in kept[start : start + 4000]]
        assert clean_paragraphs_html(paragraphs) == clean_html(paragraphs_to_html(paragraphs))
    for odd in (["a\xa0b"], ["a\rb", "c"], ["<b>&amp;</b>", "x > y"]):
        assert clean_paragraphs_html(odd) == clean_html(paragraphs_to_html(odd))
