"""A name typed into the sign-up form reaches the store, and so the
greetings, without bidi embeddings, overrides or isolates: over real HTTP,
into the real subscriber store (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from feedpub.store import SqlStore
from feedpub.subscribers import StoreSubscriptions
from feedpub.web import make_wsgi_app
from web.test_web import NOW, SECRET, SITE, Server, serving


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("\u202eيرماس", "يرماس"),
        ("Sami \u202dx\u202c \u2066y\u2069", "Sami x y"),
        ("سامي\u200f", "سامي\u200f"),
    ],
    ids=["rlo", "lro-pdf-isolate", "rlm-kept"],
)
def test_the_sign_up_form_stores_a_name_without_bidi_controls(
    tmp_path: Path, store: SqlStore, typed: str, stored: str
) -> None:
    public = tmp_path / "public"
    public.mkdir()
    subscriptions = StoreSubscriptions(store, [x.name for x in SITE.lists])
    app = make_wsgi_app(public, subscriptions, SECRET, SITE, lambda: NOW)
    with serving(app) as port:
        fields = [("email", "sami@example.org"), ("name", typed), ("digest", "daily")]
        response, _ = Server(port, subscriptions, public).request(  # type: ignore[arg-type]
            "POST",
            "/subscribe",
            urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    assert response.status == 200
    found = store.get_subscriber("sami@example.org")
    assert found is not None and found.name == stored
