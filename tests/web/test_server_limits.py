"""How ``web.server`` fits its connection limit to the open-files limit it
can get: measured in a child process whose limits are set as a service
manager would set them."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

PROBE = """
import json, logging, resource
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from feedpub.config import WebConfig
from feedpub.web.server import fit_limits
limits = fit_limits(WebConfig(connection_limit=4000))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
found = {"connections": limits.connection_limit, "soft": soft, "reported": limits.open_files}
print(json.dumps(found))
"""


def probe(soft: int, hard: int) -> tuple[dict[str, int], str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        preexec_fn=limit,
    )
    return json.loads(done.stdout), done.stderr


@pytest.mark.parametrize(
    ("soft", "hard", "connections", "open_files"),
    [
        (1024, 8192, 4000, 5024),  # systemd's default soft limit, the unit's LimitNOFILE
        (1024, 1024, 768, 1024),  # no room to raise: a quarter kept for the jobs
        (1024, 2048, 1536, 2048),
    ],
)
def test_the_soft_limit_is_raised_and_the_connections_fit_it(
    soft: int, hard: int, connections: int, open_files: int
) -> None:
    _, current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if current_hard != resource.RLIM_INFINITY and current_hard < hard:
        pytest.skip(f"this process may open {current_hard} files at most")
    found, log = probe(soft, hard)
    assert found == {"connections": connections, "soft": open_files, "reported": open_files}
    if connections < 4000:
        assert f"web.connection_limit 4000 lowered to {connections}" in log
        assert "LimitNOFILE" in log
    else:
        assert log == ""
