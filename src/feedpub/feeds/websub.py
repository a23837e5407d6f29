"""WebSub publisher notification: tell the hub which feeds changed.

Spec: https://www.w3.org/TR/websub/#publishing (the notification itself is
left to hubs; the common form, accepted by the public hubs, is a form-encoded
POST of ``hub.mode=publish`` and one ``hub.url`` per changed feed).

A ping is a courtesy: subscribers still poll. So ``ping`` never raises and
never fails a build; it returns the problems for the caller to log.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

# Hubs cap request sizes; a 2k-tag site changes thousands of feeds at once.
BATCH_SIZE = 100


def ping(
    hub: str,
    urls: Sequence[str],
    *,
    timeout: float = 10,
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """POST ``hub.mode=publish`` with every url to ``hub``, in batches of
    ``BATCH_SIZE``. A batch is retried (``attempts`` times in all, waiting
    ``backoff`` seconds, doubling) on network errors, 429 and 5xx; other 4xx
    answers are final. Returns one problem line per failed batch."""
    if not urls:
        return []
    if urllib.parse.urlsplit(hub).scheme not in ("http", "https"):
        return [f"websub: hub {hub!r} is not an http(s) URL; not pinged"]
    problems = []
    for start in range(0, len(urls), BATCH_SIZE):
        batch = urls[start : start + BATCH_SIZE]
        problem = _ping_batch(hub, batch, timeout, max(1, attempts), backoff, sleep)
        if problem:
            problems.append(problem)
    return problems


def _ping_batch(
    hub: str,
    urls: Sequence[str],
    timeout: float,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> str | None:
    # Here: urllib.request (with http.client, email, ssl) is 20 ms of every
    # build's start, and only a build that wrote something pings.
    import urllib.error
    import urllib.request

    body = urllib.parse.urlencode([("hub.mode", "publish"), *(("hub.url", u) for u in urls)])
    last = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            hub,
            data=body.encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            exc.close()
            last = f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # the hub refused the request itself: repeating it won't help
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused, bad URL
            last = str(getattr(exc, "reason", exc)) or type(exc).__name__
        if attempt < attempts:
            log.info("websub: ping to %s failed (%s); retrying", hub, last)
            sleep(backoff * 2 ** (attempt - 1))
    return (
        f"websub: ping to {hub} for {len(urls)} feed(s) failed after {attempt} attempt(s): {last}"
    )
