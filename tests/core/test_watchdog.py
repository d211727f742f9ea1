"""The engine's watchdog (sluice/watchdog.py) in a real process: a stand-in engine on the embedded API.

The watchdog signals its own process, so it runs in a subprocess (a session of its own, as the
``process`` infrastructure starts engines) sharing the test's SQLite file. Its "flow" sleeps, after
starting a child that ignores SIGTERM: what a stubborn subprocess of a flow does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sluice.client import get_client
from tests.e2e.processes import pid_alive, wait_until

ENGINE = """
import subprocess, sys, time
from pathlib import Path
from uuid import UUID

from sluice.errors import FlowRunStopped
from sluice.reporting import get_reporter
from sluice.watchdog import Watchdog

run_id, out, grace, cleanup = UUID(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
stubborn = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
)
child = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
if cleanup:  # this flow's child stops when asked; the flow itself cleans up until the file exists
    child.kill()
    child.wait()
watchdog = Watchdog(run_id, interval=0.1, lifeline_fd=None, reporter=get_reporter(), grace_seconds=grace)
watchdog.start()
(out.parent / "child.pid").write_text(str(child.pid))
try:
    while True:
        time.sleep(0.05)  # the flow
except FlowRunStopped as exc:
    if cleanup:
        (out.parent / "cleaning").touch()
        while not Path(cleanup).exists():
            time.sleep(0.05)
    watchdog.unwound()
    watchdog.wait_stopped()
    out.write_text(str(exc))
"""


@pytest.fixture
def running_run() -> Any:
    """A RUNNING flow run on the embedded API."""
    with get_client() as client:
        return client.create_flow_run(client.create_flow("watched").id, state="RUNNING")


def start_engine(run_id: Any, out: Path, grace: float = 0.5, cleanup: Path | None = None) -> subprocess.Popen[bytes]:
    """The stand-in engine for ``run_id``, writing why it stopped to ``out``; with ``cleanup``, once stopped
    its flow cleans up until that file exists (within ``grace`` seconds)."""
    arguments = [str(run_id), str(out), str(grace), str(cleanup or "")]
    return subprocess.Popen([sys.executable, "-c", ENGINE, *arguments], env=dict(os.environ), start_new_session=True)


def test_a_run_set_cancelling_stops_its_flow_kills_what_ignores_sigterm_and_ends_cancelled(
    running_run: Any, tmp_path: Path
) -> None:
    out = tmp_path / "stopped"
    engine = start_engine(running_run.id, out)
    try:
        child = int(wait_until(lambda: (tmp_path / "child.pid").exists() and (tmp_path / "child.pid").read_text(),
                               "the stand-in engine to start"))  # fmt: skip
        with get_client() as client:
            assert client.set_flow_run_state(running_run.id, "CANCELLING").status == "ACCEPT"
        assert engine.wait(60) == 0
        assert "CANCELLING" in out.read_text()
        wait_until(lambda: not pid_alive(child), "the stubborn child to be killed")
        with get_client() as client:
            state = client.read_flow_run(running_run.id).state
        assert state.type.value == "CANCELLED"
        assert state.message == "Cancelled: the flow process stopped itself."
    finally:
        if engine.poll() is None:
            os.killpg(engine.pid, 9)
            engine.wait()


def test_a_stopped_flow_still_cleaning_up_leaves_its_run_cancelling_until_it_has_stopped(
    running_run: Any, tmp_path: Path
) -> None:
    out, cleanup = tmp_path / "stopped", tmp_path / "cleanup"
    engine = start_engine(running_run.id, out, grace=60, cleanup=cleanup)
    try:
        wait_until((tmp_path / "child.pid").exists, "the stand-in engine to start")
        with get_client() as client:
            assert client.set_flow_run_state(running_run.id, "CANCELLING").status == "ACCEPT"
            wait_until((tmp_path / "cleaning").exists, "the flow to begin its clean-up")
            # Its flow is still at work: the run must not look ended (a retry would run beside it).
            assert client.read_flow_run(running_run.id).state.type.value == "CANCELLING"
            cleanup.touch()
            assert engine.wait(60) == 0
            assert client.read_flow_run(running_run.id).state.type.value == "CANCELLED"
    finally:
        if engine.poll() is None:
            os.killpg(engine.pid, 9)
            engine.wait()
