"""The one registry of feed formats: name (as in ``feeds.formats``) -> ``Writer``.

Everything that names a format reads it: file names and URLs (``urls``),
entry printing (``entries``), documents (``build``), RFC 5005 archive pages
(``archive``), OPML, index.html and topic pages. A new format is one module
that opens with its spec and ends with its ``WRITER`` (``entry.Writer``: file
name, media type, label, whether it is archivable, its entry printer and its
document assembler), plus one ``register`` line below; it then gets
fingerprints, minimal writes, tag feeds and atomic replacement for free.

``config`` sits below ``feeds`` and cannot see this registry, so the loader
checks only the shape of ``feeds.formats``; ``check_formats`` checks the
names, at the start of every build here and in the composition root.
"""

from __future__ import annotations

from collections.abc import Iterable

from feedpub.config import ConfigError
from feedpub.feeds import atom, jsonfeed, rss
from feedpub.feeds.entry import Writer

_REGISTRY: dict[str, Writer] = {}


def register(writer: Writer) -> Writer:
    """Add ``writer``; a name or file name already taken is a programming error."""
    for known in _REGISTRY.values():
        if writer.name == known.name or writer.filename == known.filename:
            raise ValueError(f"feed format {writer.name!r} clashes with {known.name!r}")
    _REGISTRY[writer.name] = writer
    return writer


def unregister(name: str) -> None:
    """Remove the format ``name`` (a test's own format, when the test ends)."""
    del _REGISTRY[name]


def get(name: str) -> Writer:
    """The writer of format ``name`` (KeyError when none is registered)."""
    return _REGISTRY[name]


def names() -> tuple[str, ...]:
    """Every registered format, in registration order."""
    return tuple(_REGISTRY)


def every() -> tuple[Writer, ...]:
    return tuple(_REGISTRY.values())


def check_formats(formats: Iterable[str], where: str) -> None:
    """Raise ``ConfigError`` (one line: ``where``, the key, the unknown name
    and the known ones) when a name in ``formats`` (``feeds.formats``) is not
    a registered format. ``where`` is the config file, or "" when unknown."""
    for index, name in enumerate(formats):
        if name not in _REGISTRY:
            prefix = f"{where}: " if where else ""
            known = ", ".join(_REGISTRY)
            raise ConfigError(
                f"{prefix}feeds.formats[{index}]: unknown format {name!r} (known: {known})"
            )


def engines() -> str:
    """The versions of the libraries printing the registered formats: part
    of every fingerprint, so an upgrade prints every document again."""
    return "+".join(dict.fromkeys(w.engine for w in _REGISTRY.values() if w.engine))


register(atom.WRITER)
register(rss.WRITER)
register(jsonfeed.WRITER)
