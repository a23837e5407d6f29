"""The demo edition rendered for the digest tests (``rendered_demo``), its
email HTML parsed for one recipient (``email_doc``), and recognisable
slot values for tests that read a body's text (``VALUES``)."""

from __future__ import annotations

from lxml import html as lxml_html

from feedpub.config import EmailConfig
from feedpub.digests import RenderedEdition, Site, plan_edition, render_edition
from feedpub.digests.message import personalize
from feedpub.digests.slots import Slot
from feedpub.model import Article
from support.digest_fixtures import DAILY, DAMASCUS, EMAIL, NOW, FakeStore, articles

# Recognisable slot values, for tests that look at a body's text.
VALUES: dict[Slot, str] = {"greeting": "GREETING", "unsubscribe_url": "https://u.example/x"}


def rendered_demo(
    site: Site, stored: list[Article] | None = None, email: EmailConfig = EMAIL
) -> RenderedEdition:
    planned = plan_edition(FakeStore(stored or articles()), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    return render_edition(planned, site, email)


def email_doc(rendered: RenderedEdition) -> lxml_html.HtmlElement:
    html, _ = personalize(
        rendered, EMAIL, to="Sami <sami@example.com>", unsubscribe_token="t0k", list_name="daily"
    )
    return lxml_html.document_fromstring(html)
