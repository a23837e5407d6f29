"""What the web side writes to the logs, without the secrets a visitor sends.

The token in ``/confirm/<token>``, ``/unsubscribe/<list>/<token>`` and
``/preferences/<token>`` is the reader's only credential: whoever reads it in a
log can unsubscribe them or change their choices. Every line the web side
logs, its own and the WSGI server's (which names the path of a request that
failed), goes through ``mask``; a failure is logged as one line (what failed
and where), never as a traceback, which would carry the request's path and
values of the store's rows.
"""

from __future__ import annotations

import logging
import re
import traceback

# The token's path segment after each route that carries one (pages.ROUTES).
_TOKEN_PATHS = re.compile(
    r"(?P<route>/(?:confirm|preferences|unsubscribe/[^/\s?#\"']+)/)[^/\s?#\"']+",
)
MASK = "<token>"

# The loggers of the web side: the WSGI server's and the pages'. (A logger's
# filter sees only the records made at that very logger, not its children's.)
LOGGERS = ("waitress", "waitress.queue", "feedpub.web", "feedpub.web.pages", "feedpub.web.server")


def mask(text: str) -> str:
    """``text`` with the token of every subscriber link in it replaced by ``<token>``."""
    return _TOKEN_PATHS.sub(lambda m: m["route"] + MASK, text)


def describe_failure(exc: BaseException) -> str:
    """One line for a failure: its type, its message and the innermost place it
    was raised (file:line in function), tokens masked."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {last.filename}:{last.lineno} in {last.name})"
    message = " ".join(str(exc).split())
    return mask(f"{type(exc).__name__}: {message}{where}" if message else type(exc).__name__)


class MaskTokens(logging.Filter):
    """Rewrites a record before any handler sees it: tokens masked in the
    message, and a traceback replaced by ``describe_failure``'s one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}: {describe_failure(record.exc_info[1])}"
        record.msg, record.args = mask(text), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_FILTER = MaskTokens()


def install(names: tuple[str, ...] = LOGGERS) -> None:
    """Put the mask on the web side's loggers. Idempotent."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
