"""Subscriber lists as CSV: reading a file of addresses for import (the
``subscribers import`` command and ``subscribers.seed``) and writing one.

The header row names the columns: ``email`` is required; ``name``,
``digests`` and ``tags`` are optional, the last two lists separated by ``;``
or ``|`` (a comma would clash with the CSV itself). Addresses are checked
with email-validator (syntax only: no DNS lookups at import) and repeated
addresses are dropped ignoring case, the first spelling kept. A bad row is
refused naming its line and the value refused; the good rows still import.

Written cells that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``, as
OWASP's "CSV injection" advice says; reading drops that quote again, so an
export imports back unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from feedpub.text.bidi import strip_bidi_controls
from feedpub.text.lists import split_list

COLUMNS = ("email", "name", "digests", "tags")
MAX_NAME_CHARS = 200
# What a spreadsheet takes for the start of a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RosterEntry:
    email: str
    name: str | None = None
    digests: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    line: int = 0  # where the row ends in its file


@dataclass(frozen=True)
class RefusedRow:
    """A row not imported: where, what it held, and why."""

    line: int
    value: str
    reason: str

    def __str__(self) -> str:
        # repr: quotes the value and shows control characters as escapes.
        value = f"{self.value!r}: " if self.value else ""
        return f"line {self.line}: {value}{self.reason}"


def check_address(address: str) -> str | None:
    """Why ``address`` is refused, or None."""
    # Imported here: email_validator brings idna and its RFC tables, which
    # only a command that checks an address should pay for.
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def read_roster(text: str) -> tuple[list[RosterEntry], list[RefusedRow]]:
    """The entries of a CSV text, and the rows refused."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        return [], [RefusedRow(1, "", "the header row has no 'email' column")]
    reader.fieldnames = header
    entries: list[RosterEntry] = []
    problems: list[RefusedRow] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num  # where the row ends (a quoted cell may span lines)
        address = _cell(row.get("email")).strip()
        name = " ".join(strip_bidi_controls(_cell(row.get("name"))).split()) or None
        problem = check_address(address) if address else "no address"
        if problem is None and name is not None and len(name) > MAX_NAME_CHARS:
            problem = f"name longer than {MAX_NAME_CHARS} characters"
        if problem is None and address.lower() in seen:
            problem = f"repeats line {seen[address.lower()]}"
        if problem is not None:
            problems.append(RefusedRow(line, address, problem))
            continue
        seen[address.lower()] = line
        entries.append(
            RosterEntry(
                email=address,
                name=name,
                digests=split_list(_cell(row.get("digests"))),
                tags=split_list(_cell(row.get("tags"))),
                line=line,
            )
        )
    return entries, problems


def write_roster(rows: Iterable[tuple[str, str | None, Iterable[str], Iterable[str], str]]) -> str:
    """CSV of (email, name, digests, tags, status) rows, lists joined with ``;``."""
    out = io.StringIO()
    # CRLF, as RFC 4180 says: the writer then quotes a cell holding a lone CR,
    # which with "\n" it writes bare and every reader takes for a line break.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, "status"])
    for email, name, digests, tags, status in rows:
        cells = [email, name or "", ";".join(digests), ";".join(tags), status]
        writer.writerow([_inert(cell) for cell in cells])
    return out.getvalue()


def _inert(cell: str) -> str:
    """The cell as a spreadsheet shows it but never runs it."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _cell(value: str | None) -> str:
    """A read cell without the quote ``_inert`` put before a formula start."""
    text = value or ""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text
