"""IRIs to URIs: the one converter feed links and email headers share.

Written by hand: ``urllib.parse.quote`` encodes one part, but no maintained
library does the whole IRI-to-URI mapping of RFC 3987 section 3.1 with IDNA
hosts and uppercase hex (the canonical form feed validators compare against).
"""

from __future__ import annotations

import re
import urllib.parse

_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_LONE_PERCENT = re.compile(r"%(?![0-9a-fA-F]{2})")


def percent_encode(part: str, safe: str) -> str:
    """UTF-8 percent-encoding of one URI part, uppercase hex, existing escapes
    kept (uppercased) and a lone '%' encoded."""
    part = _LONE_PERCENT.sub("%25", part)
    quoted = urllib.parse.quote(part, safe=safe + "%")
    return _ESCAPE.sub(lambda m: m.group(0).upper(), quoted)


def ascii_domain(domain: str) -> str:
    """An international domain name (أخبار.example) in its IDNA form
    (xn--...); an ASCII one as it is."""
    return domain if domain.isascii() else domain.encode("idna").decode("ascii")


def iri_to_uri(iri: str) -> str:
    """``iri`` as a browser sends it: UTF-8 percent-encoding with uppercase
    hex (the canonical form, RFC 3986 section 6.2.2.1), existing escapes kept
    (and uppercased), an international host, or a mailto address's domain,
    in IDNA form. Feed links and email headers both go through here."""
    parts = urllib.parse.urlsplit(iri.strip())
    netloc, path = parts.netloc, parts.path
    if not netloc.isascii():
        userinfo, _, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":")
        hostport = ascii_domain(host) + colon + port
        netloc = f"{percent_encode(userinfo, ':')}@{hostport}" if userinfo else hostport
    if parts.scheme == "mailto":
        local, at, domain = path.rpartition("@")
        path = f"{local}{at}{ascii_domain(domain)}"
    return urllib.parse.urlunsplit(
        (
            parts.scheme,
            netloc,
            percent_encode(path, "/:@!$&'()*+,;="),
            percent_encode(parts.query, "/:@!$&'()*+,;=?"),
            percent_encode(parts.fragment, "/:@!$&'()*+,;=?"),
        )
    )
