"""Text helpers every stage shares: Arabic normalisation, tag keys and slugs
(``arabic``), IRI to URI (``uri``), HTML sanitising with nh3 (``sanitize``),
right-to-left helpers for HTML and plain text (``rtl``), and lists written as
one string (``lists``).

Imports nothing of feedpub but ``model``.
"""
