"""Request bodies of the web pages: HTML forms and RFC 8058 one-click POSTs.

RFC 8058 lets the mail client send ``List-Unsubscribe=One-Click`` as
``multipart/form-data`` (which it recommends) or urlencoded, so both are read.
The ``cgi`` module is deprecated (removed in 3.13); a multipart body is a MIME
message, which the ``email`` parser reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import parse_qs

MAX_BODY = 64 * 1024  # the largest form here is a few hundred bytes

Form = Mapping[str, list[str]]


class BodyError(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def read_body(environ: Mapping[str, object]) -> bytes:
    length_text = str(environ.get("CONTENT_LENGTH") or "0")
    try:
        length = int(length_text)
    except ValueError:
        raise BodyError("400 Bad Request", "bad Content-Length") from None
    if length < 0:
        raise BodyError("400 Bad Request", "bad Content-Length")
    if length > MAX_BODY:
        raise BodyError("413 Content Too Large", "request body too large")
    stream = environ.get("wsgi.input")
    if length == 0 or stream is None:
        return b""
    data: bytes = stream.read(length)  # type: ignore[attr-defined]
    return data


def parse_form(content_type: str, body: bytes) -> dict[str, list[str]]:
    """Field name -> values, in order; unknown encodings give no fields."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if kind in ("application/x-www-form-urlencoded", ""):
        text = body.decode("utf-8", "replace")
        return parse_qs(text, keep_blank_values=True, max_num_fields=200)
    return {}


def _parse_multipart(content_type: str, body: bytes) -> dict[str, list[str]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    parsed = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, list[str]] = {}
    if not isinstance(parsed, EmailMessage) or not parsed.is_multipart():
        return fields
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue  # no files are uploaded here
        payload = part.get_payload(decode=True)
        value = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        fields.setdefault(name, []).append(value)
    return fields


def first(form: Form, name: str) -> str:
    values = form.get(name)
    return values[0].strip() if values else ""
