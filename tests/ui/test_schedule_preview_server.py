"""The schedule preview on a real ``sluice server start``: a rule that takes long to compute holds up
neither the server's other requests nor its shutdown."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import ServerProcess, wait_until

#: Counted second by second from its default DTSTART (2020-01-01): hours of work without a budget.
COSTLY_RULE = "FREQ=SECONDLY;COUNT=1000000000"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose schedule budget is so large that only a shutdown stops a costly computation."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(
        SLUICE_HOME=str(tmp_path / "home"),
        SLUICE_SERVER_RUN_SERVICES="false",
        SLUICE_SCHEDULE_MAX_SCANNED=str(10**15),
        SLUICE_SCHEDULE_MAX_SECONDS="3600",
    )
    process = ServerProcess(env, tmp_path / "server.log").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.slow
def test_health_answers_while_a_costly_preview_computes_and_sigterm_stops_the_server(server: ServerProcess) -> None:
    base = server.api_url.removesuffix("/api")
    preview: dict[str, Any] = {}

    def ask_for_the_preview() -> None:
        params = {"schedule_kind": "rrule", "schedule_rrule": COSTLY_RULE}
        try:
            preview["answer"] = httpx.get(f"{base}/ui/schedule-preview", params=params, timeout=600).json()
        except httpx.HTTPError as exc:
            preview["error"] = exc

    assert server.process is not None
    idle = cpu_seconds(server.process.pid)
    asking = threading.Thread(target=ask_for_the_preview, daemon=True)
    asking.start()
    # The idle server burns no CPU: a second of it means the preview is computing. It needs hours
    # with this budget, so every health answer below comes while it computes.
    wait_until(lambda: cpu_seconds(server.process.pid) > idle + 1, "the server to compute the preview")
    for _ in range(5):
        response = httpx.get(f"{server.api_url}/health", timeout=10)
        assert response.status_code == 200
    assert asking.is_alive() and not preview, f"the preview answered early: {preview}"

    server.signal(signal.SIGTERM)
    wait_until(lambda: not server.running, "the server to stop after SIGTERM", timeout=60)
    assert server.process is not None and server.process.returncode == 0, server.output()
    asking.join(30)
    assert preview.get("answer", {}).get("ok") is False, preview
    assert "stopped: the server is shutting down" in preview["answer"]["error"]
