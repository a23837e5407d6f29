"""Subscriber lists as CSV: reading a file of addresses for import (the
``subscribers import`` command and ``subscribers.seed``) and writing one.

The header row names the columns: ``email`` is required; ``name``,
``digests`` and ``tags`` are optional, the last two lists separated by ``;``
or ``|`` (a comma would clash with the CSV itself). Addresses are checked
with email-validator (syntax only: no DNS lookups at import) and repeated
addresses are dropped ignoring case, the first spelling kept. A bad row is
a problem naming its line; the good rows still import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from feedpub.text.lists import split_list

COLUMNS = ("email", "name", "digests", "tags")
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class RosterEntry:
    email: str
    name: str | None = None
    digests: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


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


def read_roster(text: str) -> tuple[list[RosterEntry], list[str]]:
    """The entries of a CSV text, and one ``line N: reason`` per bad row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        return [], ["line 1: the header row has no 'email' column"]
    reader.fieldnames = header
    entries: list[RosterEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        address = (row.get("email") or "").strip()
        name = " ".join((row.get("name") or "").split()) or None
        problem = check_address(address) if address else "no address"
        if problem is None and name is not None and len(name) > MAX_NAME_CHARS:
            problem = f"name longer than {MAX_NAME_CHARS} characters"
        if problem is None and address.lower() in seen:
            problem = f"{address} repeats line {seen[address.lower()]}"
        if problem is not None:
            problems.append(f"line {line}: {problem}")
            continue
        seen[address.lower()] = line
        entries.append(
            RosterEntry(
                email=address,
                name=name,
                digests=split_list(row.get("digests")),
                tags=split_list(row.get("tags")),
            )
        )
    return entries, problems


def write_roster(rows: Iterable[tuple[str, str | None, Iterable[str], Iterable[str], str]]) -> str:
    """CSV of (email, name, digests, tags, status) rows, lists joined with ``;``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "status"])
    for email, name, digests, tags, status in rows:
        writer.writerow([email, name or "", ";".join(digests), ";".join(tags), status])
    return out.getvalue()
