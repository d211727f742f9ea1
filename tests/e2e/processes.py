"""Real ``sluice server start`` and ``sluice agent start`` subprocesses for the end-to-end tests.

Each gets its own session (so a test can kill it, and only it), its output in a log file shown when
an assertion fails, and is stopped by its PID at teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

BIN = Path(sys.executable).parent
SLUICE = str(BIN / "sluice")
T = TypeVar("T")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], T], what: str, timeout: float = 60.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class SluiceProcess:
    """One ``sluice …`` subprocess with its log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> None:
        self.args, self.env, self.log, self.cwd = args, env, log, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SluiceProcess:
        """Start it, appending its output to the log file."""
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [SLUICE, *self.args],
                env=self.env,
                cwd=self.cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process (not its children)."""
        if self.running:
            assert self.process is not None
            os.kill(self.process.pid, signum)

    def kill(self) -> int | None:
        """SIGKILL the process (``kill -9``: no clean-up of any kind) and reap it; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class ServerProcess(SluiceProcess):
    """``sluice server start`` on a loopback port; ``api_url`` once healthy."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(["server", "start", "--host", "127.0.0.1", "--port", str(self.port)], env, log)
        self.api_url = f"http://127.0.0.1:{self.port}/api"

    def start(self) -> ServerProcess:
        """Start and wait until ``/api/health`` answers."""
        super().start()

        def healthy() -> bool:
            assert self.running, f"the server exited early:\n{self.output()}"
            try:
                return httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, "the server to answer /api/health")
        return self


def agent_process(env: dict[str, str], log: Path, *queues: str, extra: tuple[str, ...] = ()) -> SluiceProcess:
    """``sluice agent start -q Q…`` (not started yet)."""
    args = ["agent", "start", *(item for queue in queues for item in ("-q", queue)), "--prefetch-seconds", "0"]
    return SluiceProcess([*args, *extra], env, log)


def run_sluice(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run one ``sluice`` command to its end; its stdout, or an assertion error with its output."""
    result = subprocess.run([SLUICE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"sluice {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def run_id_from(output: str) -> str:
    """The id in ``Created flow run 'x' with id '…'.``"""
    return output.split("with id '")[1].split("'")[0]


def final_state(client: Any, run_id: Any, timeout: float = 90.0) -> Any:
    """Wait for the run to reach a final state and return it."""

    def done() -> Any:
        state = client.read_flow_run(run_id).state
        return state if state is not None and state.is_terminal else None

    return wait_until(done, f"flow run {run_id} to finish", timeout=timeout, interval=0.2)


def state_of(client: Any, run_id: Any, state_type: str, timeout: float = 90.0) -> Any:
    """Wait for the run to be in ``state_type`` and return the run."""

    def reached() -> Any:
        run = client.read_flow_run(run_id)
        return run if run.state is not None and run.state.type.value == state_type else None

    return wait_until(reached, f"flow run {run_id} to be {state_type}", timeout=timeout, interval=0.1)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: the signal check is all there is
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def infrastructure_pid(client: Any, run_id: Any, timeout: float = 60.0) -> int:
    """The PID of the process a run was started in, once the agent has recorded it (``host:pid``)."""
    identifier = wait_until(
        lambda: client.read_flow_run(run_id).infrastructure_pid, f"flow run {run_id}'s infrastructure id", timeout
    )
    return int(identifier.rpartition(":")[2])


def wait_for_file(path: Path, what: str, timeout: float = 60.0) -> None:
    """Wait until ``path`` exists (a flow's signal to the test)."""
    wait_until(path.exists, what, timeout=timeout, interval=0.05)


def deploy_and_run(
    env: dict[str, str], project: Path, queue: str, entrypoint: str, flow: str, **parameters: Any
) -> str:
    """Build and apply ``entrypoint`` (in ``project``) as ``<flow>/<queue>`` on ``queue``, create a run of it with
    ``parameters`` (``--param key=value``); the run's id."""
    run_sluice(env, project, "deployment", "build", entrypoint, "-n", queue, "-q", queue, "--apply")
    options = [item for key, value in parameters.items() for item in ("--param", f"{key}={value}")]
    return run_id_from(run_sluice(env, project, "deployment", "run", f"{flow}/{queue}", *options))


def engine_said(agent: SluiceProcess, run_name: str, text: str) -> bool:
    """True once the engine of ``run_name`` printed a line with ``text`` (the agent streams it)."""
    return any(line.startswith(f"{run_name} | ") and text in line for line in agent.output().splitlines())
