"""An IMAP folder as a ``Mailbox`` (``inbound: {imap: {...}}``), with the
standard library's imaplib.

Messages are fetched with ``BODY.PEEK[]``, so reading sets no flag: a
message kept for a person stays unread. One whose effect is recorded is
flagged ``\\Seen`` (and ``$FeedpubProcessed`` where the server allows
keywords) and moved to the processed folder: ``UID MOVE`` (RFC 6851), else
``UID COPY`` + ``\\Deleted`` + ``UID EXPUNGE`` of that one message (RFC
4315). A server with neither is refused: a plain EXPUNGE would also remove
what a person had marked deleted. Locations are ``uidvalidity/uid``.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from feedpub.inbound.mailbox import InboundError, Incoming

_FETCH_BATCH = 100
_UID = re.compile(rb"UID (\d+)")
KEYWORD = "$FeedpubProcessed"


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # tls | starttls | none
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str = "processed"
    timeout: float = 30.0


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapBox:
    """One IMAP folder, logged in and selected (see the module docstring)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        s = settings
        self.name = f"imap://{s.username}@{s.host}:{s.port}/{s.folder}"
        self._conn = self._connect()
        try:
            self._check(self._conn.login(s.username, s.password), "login")
            self._select()
            # Servers announce more once logged in (Dovecot: MOVE, UIDPLUS).
            typ, data = self._conn.capability()
            capabilities = set(_text(data).upper().split()) if typ == "OK" else set()
            self._move = "MOVE" in capabilities
            if not self._move and "UIDPLUS" not in capabilities:
                raise InboundError(
                    f"{self.name}: the server supports neither MOVE nor UIDPLUS, so processed "
                    "mail cannot be moved without expunging other messages"
                )
            self._ensure_folder(s.processed_folder)
        except imaplib.IMAP4.error as exc:
            self._abandon()
            raise InboundError(f"{self.name}: {_said(exc)}") from None
        except BaseException:
            self._abandon()
            raise

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        try:
            if s.security == "tls":
                return imaplib.IMAP4_SSL(
                    s.host, s.port, ssl_context=ssl.create_default_context(), timeout=s.timeout
                )
            conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                conn.starttls(ssl_context=ssl.create_default_context())
            return conn
        except (OSError, imaplib.IMAP4.error) as exc:
            raise InboundError(
                f"inbound.imap: cannot reach {s.host}:{s.port} ({s.security}): {_said(exc)}"
            ) from None

    def _select(self) -> None:
        typ, data = self._conn.select(_quoted(self.settings.folder))
        if typ != "OK":
            raise InboundError(
                f"{self.name}: cannot open the folder {self.settings.folder!r}: {_text(data)}"
            )
        validity = self._conn.response("UIDVALIDITY")[1]
        self._validity = _text(validity).strip() or "0"
        flags = _text(self._conn.response("PERMANENTFLAGS")[1])
        self._keywords = "\\*" in flags

    def _ensure_folder(self, folder: str) -> None:
        typ, data = self._conn.list('""', _quoted(folder))
        if typ == "OK" and any(item for item in data if item):
            return
        typ, data = self._conn.create(_quoted(folder))
        if typ != "OK" and "ALREADYEXISTS" not in _text(data).upper():
            raise InboundError(f"{self.name}: cannot create the folder {folder!r}: {_text(data)}")

    # --- the Mailbox protocol -----------------------------------------------------

    def messages(self, skip: Collection[str]) -> Iterator[Incoming]:
        uids = [u for u in self._uids() if self._location(u) not in skip]
        for start in range(0, len(uids), _FETCH_BATCH):
            chunk = uids[start : start + _FETCH_BATCH]
            _typ, data = self._command("UID FETCH", "FETCH", ",".join(chunk), "(UID BODY.PEEK[])")
            for item in data:
                if not isinstance(item, tuple) or len(item) < 2:
                    continue
                found = _UID.search(item[0])
                if found is not None:
                    yield Incoming(self._location(found.group(1).decode()), bytes(item[1]))

    def processed(self, location: str) -> None:
        uid = self._uid(location)
        flags = f"(\\Seen {KEYWORD})" if self._keywords else "(\\Seen)"
        self._command("UID STORE", "STORE", uid, "+FLAGS.SILENT", flags)
        target = _quoted(self.settings.processed_folder)
        if self._move:
            self._command("UID MOVE", "MOVE", uid, target)
            return
        self._command("UID COPY", "COPY", uid, target)
        self._command("UID STORE", "STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        self._command("UID EXPUNGE", "EXPUNGE", uid)

    def keep(self, location: str) -> None:
        """Nothing to do: read with PEEK, the message is as it was."""

    def present(self, locations: Collection[str]) -> set[str]:
        return {self._location(u) for u in self._uids()} & set(locations)

    def close(self) -> None:
        try:
            self._conn.close()
            self._conn.logout()
        except (OSError, imaplib.IMAP4.error):
            self._abandon()

    # --- helpers --------------------------------------------------------------------

    def _uids(self) -> list[str]:
        _typ, data = self._command("UID SEARCH", "SEARCH", "ALL")
        return _text(data).split()

    def _location(self, uid: str) -> str:
        return f"{self._validity}/{uid}"

    def _uid(self, location: str) -> str:
        validity, _, uid = location.partition("/")
        if validity != self._validity or not uid.isdigit():
            raise InboundError(f"{self.name}: {location} is not a message of this session")
        return uid

    def _command(self, what: str, command: str, *args: str) -> tuple[str, list[object]]:
        try:
            typ, data = self._conn.uid(command, *args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise InboundError(f"{self.name}: {what}: {_said(exc)}") from None
        if typ != "OK":
            raise InboundError(f"{self.name}: {what}: {_text(data)}")
        return typ, list(data)

    def _check(self, reply: tuple[str, Sequence[object]], what: str) -> None:
        if reply[0] != "OK":
            raise InboundError(f"{self.name}: {what}: {_text(reply[1])}")

    def _abandon(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.shutdown()


def _text(data: object) -> str:
    if isinstance(data, list | tuple):
        return " ".join(_text(item) for item in data if item is not None)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return "" if data is None else str(data)


def _said(exc: BaseException) -> str:
    text = str(exc)
    # imaplib puts the server's words in a bytes repr: b'[AUTHENTICATIONFAILED] ...'
    found = re.fullmatch(r"b'(.*)'", text)
    return " ".join((found.group(1) if found else text).split()) or type(exc).__name__
