"""Every file under ``feeds.output`` but the digests' ``archive/``: Atom, RSS
and JSON Feed documents (the main feed and one per tag), each tag's topic
page, RFC 5005 archive pages, feeds.opml, index.html, style.css and the page
of each article without a URL.
Nothing here reads the clock or the whole ``Config``: a build is given
``FeedsConfig``, a ``FeedSite`` and a reader.

The folder, in the order data flows::

    select.py       which articles each feed holds (FeedPlan); its FeedReader Protocol
    site.py         FeedSite (the input) and SiteValues (normalised once per build)
    entry.py        FeedItem / FeedHead: the neutral model, one FeedItem per article per build;
                    Writer: what a format module gives the registry
    atom.py         Atom writer (RFC 4287), feedgen public API only
    rss.py          RSS 2.0 writer (RSS Advisory Board profile), feedgen public API only
    jsonfeed.py     JSON Feed 1.1 writer, by hand
    writers.py      the one registry of formats: name -> Writer; check_formats
    urls.py         paths under feeds.output, public percent-encoded URLs
    entries.py      entry bytes: printed once per article version, kept in an EntryCache, spliced
    opml.py         feeds.opml (OPML 2.0)
    index.py        index.html (templates/feeds/index.html.j2)
    topics.py       tag/<slug>/index.html, the page a tag's feeds link home to (topic.html.j2)
    archive.py      RFC 5005 archive pages: paths, heads, fingerprints
    pages.py        articles/<id>.html for url-less articles (templates/feeds/article.html.j2)
    incremental.py  fingerprints, the keep-or-render collector, RENDER_VERSION
    build.py        build(): what app calls; render_feeds / render_archive from a plan;
                    style.css (templates/feeds/style.css), which every page links
    websub.py       the hub ping after a build

Only ``atom`` and ``rss`` import feedgen (tests/test_layers.py checks it).
A new format is one module like ``jsonfeed`` plus one ``register`` line in
``writers`` (tests/feeds/test_writers.py builds a site with a test-only one).
"""
