"""The flow the chaos suite deploys: it records each execution in a ledger file and logs numbered lines.

The ledger is shared by every run of a test: one line per event, ``<event> <run id> <pid>``, each
written by a single ``write`` on a file opened for appending, so lines from concurrent runs never mix.
Events: ``start`` (the flow's body began), ``child`` (with the pid of a helper process it started),
``cleaning`` (it was stopped and is cleaning up), ``end`` (its body finished, or its clean-up did).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sluice import flow, get_run_logger
from sluice.context import get_flow_run_context
from sluice.logging import flush_logs


def note(ledger: str, event: str, run_id: str, pid: int | None = None) -> None:
    """Append ``<event> <run id> <pid>`` to the ledger in one write."""
    line = f"{event} {run_id} {pid or os.getpid()}\n".encode()
    descriptor = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def wait_for(path: str, timeout: float) -> bool:
    """Wait until ``path`` exists (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@flow(name="chaos-step")
def chaos_step(
    ledger: str, lines: int = 3, release: str = "", child: bool = False, cleanup: str = "", timeout: float = 120.0
) -> str:
    """Note ``start``, log ``lines`` numbered lines (``line 0 (pid 42)``…, shipped at once), then, with
    ``release``, wait for that file before logging as many again; note ``end``.

    ``child`` starts a helper process that would outlive the flow if nothing stopped it (its pid is noted).
    ``cleanup``: when the flow is stopped from outside, it cleans up until that file exists (noting
    ``cleaning`` first), as a flow closing its connections would, then notes ``end``.
    """
    run_id = str(get_flow_run_context().flow_run_id)  # type: ignore[union-attr]
    note(ledger, "start", run_id)
    logger = get_run_logger()
    for number in range(lines):
        logger.info("line %d (pid %d)", number, os.getpid())
    flush_logs()
    helper = None
    if child:
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        note(ledger, "child", run_id, helper.pid)
    try:
        if release:
            if not wait_for(release, timeout):
                raise TimeoutError(f"{release} never appeared")
            for number in range(lines, 2 * lines):
                logger.info("line %d (pid %d)", number, os.getpid())
    except BaseException:
        if cleanup:
            note(ledger, "cleaning", run_id)
            wait_for(cleanup, timeout)
        note(ledger, "end", run_id)
        raise
    if helper is not None:
        helper.kill()
        helper.wait()
    note(ledger, "end", run_id)
    return "done"
