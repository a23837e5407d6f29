"""A name typed into the sign-up form reaches the store (the sign-up it
queues, which a confirmation turns into the subscriber, and so the
greetings) without bidi embeddings, overrides or isolates: over real HTTP,
into the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedpub.store import SqlStore
from feedpub.subscribers import StoreSubscriptions
from feedpub.web import make_wsgi_app
from support.web_app import NOW, SECRET, SITE, Server, serving


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
    subscriptions = StoreSubscriptions(store, [x.name for x in SITE.lists], signups=store)
    app = make_wsgi_app(public, subscriptions, SECRET, SITE, lambda: NOW)
    with serving(app) as port:
        fields = [("email", "sami@example.org"), ("name", typed), ("digest", "daily")]
        response, _ = Server(port, subscriptions, public).sign_up(fields)  # type: ignore[arg-type]

    assert response.status == 200
    queued = store.signups_of("sami@example.org")
    assert [s.request.name for s in queued] == [stored]
