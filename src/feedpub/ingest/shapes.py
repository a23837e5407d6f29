"""What a page line is by its shape alone: the rules that need no learned
chrome, so a folder of one page reads as well as a folder of fifty.

Each rule looks at one line (its collapsed text and its ``normalize_arabic``
form, both made once per page by ``layout.classify``) and is cheap: a length
bound or a substring test first, then a split or a set lookup; every pattern
is compiled here, once. Written by hand: no maintained library knows Arabic
news sites' chrome (trafilatura reads HTML, and the markup is gone here).

* navigation: a line of short items separated by ``|``, ``·``, ``•``, ``»``
  or a spaced ``/`` or ``-`` («الرئيسية | سياسة | اقتصاد | رياضة»);
* share and follow lines: share verbs, network names and «نسخ الرابط»
  only («شارك على فيسبوك»), or a call to follow the site on one
  («تابعوا النيل اليوم على واتساب»);
* legal lines: copyright («جميع الحقوق محفوظة © 2026 …») and the policy
  links of a footer («سياسة الخصوصية», «من نحن»);
* related blocks: «اقرأ أيضاً», «مقالات ذات صلة», «الأكثر قراءة» … heading
  a list of headlines (``is_related_item``: what stands in the list, and
  ``is_prose``: whether the article goes on after it);
* photo credits: «صورة أرشيفية», «تصوير: …», a line ending «(رويترز)»;
* bylines, datelines and source credits, with the name they give
  (``read_byline``);
* hashtag lines: the tags of sites that print them as hashtags
  («#النفط #البصرة #أيام_قرطاج»; ``hashtags``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feedpub.text.arabic import normalize_arabic

# Every set below is in ``normalize_arabic`` form (alef forms to ا, ة to ه,
# ى to ي, diacritics dropped, Latin case-folded), as the lines are compared.


def _norm_set(*words: str) -> frozenset[str]:
    return frozenset(normalize_arabic(w) for w in words)


# --- hashtags -----------------------------------------------------------------

# Only hashtags, at least one: "#" then a word with no space («#أيام_قرطاج»:
# "_" joins words). A "#" amid prose («المرتبة #1») is no tag line.
_HASHTAG_LINE = re.compile(r"#[^\s#]+(?:\s+#[^\s#]+)*")
_HASHTAG_MAX = 12


def hashtags(line: str) -> list[str] | None:
    """The tags of a line of hashtags, as written with "_" read as a space
    («#أيام_قرطاج» -> «أيام قرطاج»); None for any other line."""
    text = line.strip()
    if not text.startswith("#") or not _HASHTAG_LINE.fullmatch(text):
        return None
    items = [item.lstrip("#").replace("_", " ").strip() for item in text.split()]
    if len(items) > _HASHTAG_MAX or not all(any(c.isalpha() for c in i) for i in items):
        return None
    return items


# --- navigation ---------------------------------------------------------------

# Separators of a navigation bar. "/" and "-" only with spaces around them:
# unspaced they join words («كوفيد-19», «كم/سا»).
_NAV_SPLIT = re.compile(r"\s*[|·•»]\s*|\s+[-–—/]\s+")
_NAV_SEP = re.compile(r"[|·•»]| [-–—/] ")
NAV_MIN_ITEMS = 3
NAV_MAX_ITEM_WORDS = 3
_NAV_MAX_WORDS = 40  # a long line is prose even when it holds separators


def is_nav(line: str, words: int) -> bool:
    """At least three items, each one to three words holding a letter and
    ending no sentence. A headline with a kicker («فيديو | لحظة …») has
    two parts, a dateline («القاهرة - النيل اليوم») two; where « opens a
    quote, » closes it."""
    if not NAV_MIN_ITEMS <= words <= _NAV_MAX_WORDS or not _NAV_SEP.search(line):
        return False
    if "«" in line:
        return False
    parts = [part for part in _NAV_SPLIT.split(line) if part]
    if len(parts) < NAV_MIN_ITEMS:
        return False
    for part in parts:
        if part.count(" ") >= NAV_MAX_ITEM_WORDS or part[-1] in ".،,:؛;!؟?":
            return False
        if not any(ch.isalpha() for ch in part):
            return False
    return True


# --- share and follow lines ---------------------------------------------------

_SHARE_VERBS = _norm_set(
    "شارك", "شاركوا", "شاركها", "مشاركة", "المشاركة", "انشر", "نسخ", "انسخ", "طباعة",
    "اطبع", "أرسل", "ارسل", "حفظ", "احفظ", "share", "copy", "print", "send", "save",
)  # fmt: skip
_NETWORKS = _norm_set(
    "فيسبوك", "فيس", "بوك", "تويتر", "إكس", "اكس", "واتساب", "واتس", "آب", "اب",
    "تيليجرام", "تيليغرام", "تلغرام", "تلجرام", "تليجرام", "لينكدإن", "لينكدان", "لينكد",
    "إن", "انستغرام", "إنستغرام", "انستجرام", "انستقرام", "يوتيوب", "تيك", "توك", "تيكتوك",
    "ماسنجر", "سناب", "شات", "بنترست", "ريديت", "ثريدز", "جوجل", "نيوز", "البريد",
    "بريد", "الإلكتروني", "الالكتروني", "إيميل", "ايميل", "facebook", "twitter", "x",
    "whatsapp", "telegram", "linkedin", "instagram", "youtube", "tiktok", "messenger",
    "pinterest", "reddit", "threads", "email", "e-mail", "mail", "google", "news",
)  # fmt: skip
_LINK_WORDS = _norm_set("الرابط", "رابط", "link", "url")
_SHARE_FILLER = _norm_set(
    "عبر", "على", "علي", "في", "من", "إلى", "الخبر", "المقال", "الموضوع", "هذا", "هذه",
    "تم", "on", "via", "the", "this", "to", "article", "story",
)  # fmt: skip
_SHARE_WORDS = _SHARE_VERBS | _NETWORKS | _LINK_WORDS | _SHARE_FILLER
_SHARE_ANCHORS = _SHARE_VERBS | _NETWORKS | _LINK_WORDS
_FOLLOW_VERBS = _norm_set(
    "تابعونا", "تابعوا", "تابعنا", "اشترك", "اشتركوا", "حمل", "حملوا", "نزل",
    "انضم", "انضموا", "سجل", "follow", "subscribe", "join", "download",
)  # fmt: skip
_FOLLOW_PLACES = _NETWORKS | _norm_set(
    "تطبيق", "التطبيق", "قناة", "قناتنا", "القناة", "النشرة", "نشرتنا", "حساباتنا",
    "صفحتنا", "app", "channel", "newsletter",
)  # fmt: skip
_SHARE_OPENERS = _SHARE_WORDS | _FOLLOW_VERBS | {""}  # "": a line opening with «|» or «:»
SHARE_MAX_WORDS = 12
# What a word of a share line may carry around it: «شارك:», «فيسبوك|», «(X)».
_WORD_PUNCT = ":|·•-–—/،,.!()[]«»\"'"


def share_reason(norm: str, words: int) -> str | None:
    """A line of share buttons or a call to follow the site, else None."""
    if words > SHARE_MAX_WORDS:
        return None
    # Every such line opens with one of its words: most lines end here.
    if norm.split(" ", 1)[0].strip(_WORD_PUNCT) not in _SHARE_OPENERS:
        return None
    tokens = [t for t in (w.strip(_WORD_PUNCT) for w in norm.split()) if t]
    if not tokens:  # punctuation only
        return None
    if tokens[0] in _FOLLOW_VERBS and not _FOLLOW_PLACES.isdisjoint(tokens):
        return "a call to follow the site on a network or app"
    if _SHARE_WORDS.issuperset(tokens) and not _SHARE_ANCHORS.isdisjoint(tokens):
        if "نسخ" in tokens or "انسخ" in tokens or not _LINK_WORDS.isdisjoint(tokens):
            return "a copy-link button"
        return "share buttons (share words and network names only)"
    return None


# --- copyright and policy lines -----------------------------------------------

_RIGHTS = re.compile(r"(?:^|\s)(?:ال)?حقوق(?:\s+\S+){0,3}\s+محفوظه|all rights reserved|copyright")
_POLICY_KEYS = _norm_set(
    "سياسة الخصوصية", "سياسة الاستخدام", "شروط الاستخدام", "الشروط والأحكام", "شروط وأحكام",
    "اتفاقية الاستخدام", "سياسة ملفات تعريف الارتباط", "من نحن", "عن الموقع", "اتصل بنا",
    "تواصل معنا", "أعلن معنا", "للإعلان", "خريطة الموقع", "هيئة التحرير", "أسرة التحرير",
    "الأسئلة الشائعة", "privacy policy", "terms of use", "about us", "contact us",
)  # fmt: skip
LEGAL_MAX_WORDS = 30


def legal_reason(line: str, norm: str, key: str, words: int) -> str | None:
    """A copyright line or a footer's policy link, else None."""
    if key in _POLICY_KEYS:
        return "a policy or site-information link of the footer"
    if words > LEGAL_MAX_WORDS:
        return None
    if "©" in line or "(c)" in norm:
        return "a copyright line (©)"
    if ("محفوظ" in norm or "right" in norm) and _RIGHTS.search(norm):
        return "a copyright line («جميع الحقوق محفوظة»)"
    return None


# --- related-article blocks ---------------------------------------------------

# Lines heading a list of other articles' headlines. ``chrome.BLOCK_MARKERS``
# holds the ones a site may also end its article with.
RELATED_HEADERS: tuple[str, ...] = (
    "اقرأ أيضاً",
    "اقرأ أيضا",
    "اقرأ كذلك",
    "اقرأ المزيد",
    "طالع أيضاً",
    "شاهد أيضاً",
    "قد يهمك",
    "قد يهمك أيضاً",
    "قد يعجبك أيضاً",
    "اخترنا لك",
    "مقالات ذات صلة",
    "أخبار ذات صلة",
    "موضوعات ذات صلة",
    "مواضيع ذات صلة",
    "مقالات مشابهة",
    "أخبار متعلقة",
    "ذات صلة",
    "الأكثر قراءة",
    "الأكثر مشاهدة",
    "الأكثر تداولاً",
    "الأكثر تعليقاً",
    "المزيد من الأخبار",
)
RELATED_KEYS = _norm_set(*RELATED_HEADERS)
# The same with the colons a header may carry: one set lookup per line.
RELATED_LINE_KEYS = RELATED_KEYS | {f"{k}{c}" for k in RELATED_KEYS for c in (":", " :")}
# A headline in such a list: no more words than this (a paragraph broken
# mid-sentence is longer), and no end but ? ! or none.
RELATED_MAX_WORDS = 16
_NUMBERING = re.compile(r"^\d{1,2}[.)-]?$")


PROSE_MIN_WORDS = 6


def is_prose(line: str, words: int) -> bool:
    """A sentence of article text, or a line longer than a listed headline."""
    return words > RELATED_MAX_WORDS or (words >= PROSE_MIN_WORDS and line[-1] in ".!؟?…")


def is_related_item(line: str, words: int) -> bool:
    """A headline (or the number before one) in a related-articles list."""
    if _NUMBERING.match(line):
        return True
    return words <= RELATED_MAX_WORDS and line.rstrip()[-1] not in ".،,:؛;"


# --- photo credits --------------------------------------------------------------

# A caption's first word, before a colon («صورة: …», «تصوير: …»), and the
# words a caption opens or closes with («صورة أرشيفية …», «… - أرشيفية»).
_PHOTO_LABELS = _norm_set("صورة", "الصورة", "تصوير", "الصور")
_PHOTO_OPENINGS = tuple(
    normalize_arabic(w) for w in ("صورة أرشيفية", "صورة تعبيرية", "صورة من الأرشيف", "أرشيفية")
)
_PHOTO_ENDINGS = tuple(normalize_arabic(w) for w in (" - أرشيفية", " | أرشيفية", " - أرشيف"))
# Who a photo is credited to, inside the brackets that end a caption:
# agencies and the stock words (normalised, dots and spaces dropped: «أ.ف.ب»).
_CREDITS = frozenset(
    "".join(normalize_arabic(name).replace(".", "").split())
    for name in (
        "رويترز", "أ ف ب", "فرانس برس", "أسوشيتد برس", "أ ب", "د ب أ", "الأناضول", "واس",
        "وام", "كونا", "سانا", "بترا", "قنا", "بنا", "العمانية", "ومع", "واج", "وات",
        "شينخوا", "إرنا", "إفي", "أرشيفية", "أرشيف", "صورة أرشيفية", "تعبيرية",
        "صورة تعبيرية", "متداولة", "مواقع التواصل", "وكالات", "الإنترنت", "getty",
        "getty images", "afp", "reuters", "ap", "epa", "anadolu",
    )
)  # fmt: skip
_TRAILING_CREDIT = re.compile(r"\(([^()]{1,30})\)$")
CAPTION_CREDIT_MAX_WORDS = 24


def photo_credit_reason(line: str, norm: str, words: int) -> str | None:
    """A caption by its words: it opens with «صورة»/«تصوير»/«أرشيفية», or
    ends with an agency's or a stock credit in brackets («(رويترز)»). A
    headline's «(فيديو)» or «(صور)» is no credit."""
    if words > CAPTION_CREDIT_MAX_WORDS or line[-1] in ".!؟?:،":
        return None
    first = norm.split(" ", 1)[0]
    if first.endswith(":") and first.rstrip(":") in _PHOTO_LABELS:
        return "a photo caption or credit («صورة: …», «تصوير: …»)"
    if norm.startswith(_PHOTO_OPENINGS) or norm.endswith(_PHOTO_ENDINGS):
        return "a photo caption («صورة أرشيفية», «… - أرشيفية»)"
    if line.endswith(")"):
        found = _TRAILING_CREDIT.search(norm)
        if found and "".join(found.group(1).replace(".", "").split()) in _CREDITS:
            return "a photo caption credited to an agency or the archive"
    return None


# --- bylines, datelines and source credits ---------------------------------------

BYLINE_MAX_WORDS = 8
DATELINE_REASON = "a dateline: a place or the site, and the author"
NAME_MAX_WORDS = 6
# Labels that name who wrote the article, and those that credit a source or
# a helper; ``normalize_arabic`` forms.
_AUTHOR_LABELS = _norm_set(
    "بقلم", "كتب", "كتبت", "كتبه", "كتبها", "بواسطة", "الكاتب", "إعداد", "اعداد", "متابعة",
    "by",
)  # fmt: skip
# Not «تقرير:», «حوار:» or «مراجعة:»: those open headlines as kickers.
_SOURCE_LABELS = _norm_set("المصدر", "مصدر")
_HELPER_LABELS = _norm_set("تحرير", "ترجمة")
_LABEL = re.compile(r"^([^\s:：\-–—]+)\s*(?:[:：]|[-–—]\s)\s*|^(بقلم|بواسطه|by)\s+")
# «بيروت - فادي ياغي»: a place and a name or agency.
_DATELINE = re.compile(r"^[^\s\d]+(?: [^\s\d]+)? [-–—] [^\s\d]+(?: [^\s\d]+){0,2}$")
# Between a byline's name and what follows it («كتب: أحمد سمير | الأحد …»).
_BYLINE_PARTS = re.compile(r"\s*[|•·]\s*|\s+[-–—]\s+|،\s+")


@dataclass(frozen=True)
class Byline:
    reason: str
    name: str | None  # as written on the page (None: a helper's credit)
    writer: bool  # names the writer («كتب:», a dateline), not a source («المصدر:»)
    rest: str = ""  # what follows the name on the line (a date, a place)


def read_byline(line: str, norm: str, words: int) -> Byline | None:
    """A byline («كتب: …», «بقلم …»), a source credit («المصدر: …») or a
    dateline («القاهرة - النيل اليوم»), with the name it gives and the rest
    of the line (``layout`` reads a date there); else None."""
    if line[-1] in ".!؟?" or words > BYLINE_MAX_WORDS + 8:
        return None
    found = _LABEL.match(norm)
    label = (found.group(1) or found.group(2)) if found else None
    if found and label in _HELPER_LABELS:
        return Byline("a credit for editing or translation", None, False)
    if found and (label in _AUTHOR_LABELS or label in _SOURCE_LABELS):
        name, rest = _name_and_rest(_after_label(line, norm, found.end()))
        if name is None:
            return None
        if label in _SOURCE_LABELS:
            return Byline("a source credit («المصدر: …»)", name, False, rest)
        return Byline("a byline: who wrote the article", name, True, rest)
    if words <= BYLINE_MAX_WORDS and _DATELINE.match(norm):
        name = _BYLINE_PARTS.split(line, maxsplit=1)[-1].strip()
        return Byline(DATELINE_REASON, name, True)
    return None


def _after_label(line: str, norm: str, cut: int) -> str:
    """``line`` after the label that ends at ``cut`` in ``norm``. Normalising
    drops diacritics and tatweel, so the offset is found by words: the label
    and its punctuation are the words ``norm[:cut]`` holds."""
    skip = len(norm[:cut].split())
    return " ".join(line.split(" ")[skip:]).lstrip(":：-–— ")


def _name_and_rest(text: str) -> tuple[str | None, str]:
    parts = _BYLINE_PARTS.split(text, maxsplit=1)
    name = parts[0].strip(" :،,")
    if not name or name.count(" ") >= NAME_MAX_WORDS or any(ch.isdigit() for ch in name):
        return None, ""
    return name, parts[1].strip() if len(parts) > 1 else ""
