"""Text helpers every stage shares: Arabic normalisation, tag keys and slugs
(``arabic``), IRI to URI (``uri``), HTML sanitising with nh3 (``sanitize``),
right-to-left helpers for HTML and plain text (``rtl``), lists written as
one string (``lists``), and bidi controls removed from typed names (``bidi``).

Imports nothing of feedpub but ``model``.
"""
