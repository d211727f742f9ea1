"""Flows the agent end-to-end tests deploy."""

from __future__ import annotations

import time
from pathlib import Path

from sluice import flow, get_run_logger


@flow(name="wait-for-file")
def wait_for_file(path: str, timeout: float = 120.0) -> str:
    """Log that it started, then wait until ``path`` exists (the test's signal to finish)."""
    logger = get_run_logger()
    logger.info("waiting for %s", path)
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)
    logger.info("released")
    return "released"


@flow(name="always-fails", retries=2, retry_delay_seconds=0)
def always_fails(marker: str) -> None:
    """Count its attempts in ``marker`` (one line each), then raise."""
    with open(marker, "a") as handle:
        handle.write("attempt\n")
    raise ValueError("the flow failed on purpose")


@flow(name="log-and-wait")
def log_and_wait(path: str, done: str, lines: int = 5) -> str:
    """Log ``lines`` numbered lines, wait for ``path``, log as many again, then create ``done``.

    The fault tests kill the server while it waits, so half its lines are logged during the outage.
    """
    logger = get_run_logger()
    for number in range(lines):
        logger.info("before %d", number)
    while not Path(path).exists():
        time.sleep(0.05)
    for number in range(lines):
        logger.info("after %d", number)
    Path(done).touch()
    return "done"


@flow(name="mark-once")
def mark_once(folder: str) -> None:
    """Create a file named after this flow run, failing if it exists (a second execution of one run
    fails loudly), and hold the run's concurrency slot a moment."""
    import os

    run_id = os.environ["SLUICE__FLOW_RUN_ID"]
    os.close(os.open(Path(folder) / run_id, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    time.sleep(0.3)  # the flow's "work": its run stays RUNNING, so the limits are put to the test
