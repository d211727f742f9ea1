"""The 'process' infrastructure block, for real: subprocesses of the test process."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice.blocks import InfrastructureResult
from sluice.errors import ConfigurationError, InfrastructureNotAvailable, InfrastructureNotFound
from sluice_process.process import Process, process_group_alive
from tests.e2e.processes import pid_alive


def python(code: str) -> list[str]:
    """A command running ``code`` with the test's interpreter, unbuffered."""
    return [sys.executable, "-u", "-c", code]


def wait_for(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class BackgroundRun:
    """``block.run()`` in a thread, as the agent does; records the identifier it reports."""

    def __init__(self, block: Process) -> None:
        self.identifier: str | None = None
        self.result: InfrastructureResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(block,), daemon=True)
        self._thread.start()

    def _run(self, block: Process) -> None:
        try:
            self.result = block.run(on_started=self._started)
        except BaseException as exc:
            self.error = exc

    def _started(self, identifier: str) -> None:
        self.identifier = identifier

    def join(self, timeout: float = 30) -> InfrastructureResult:
        """Wait for the run to end and return its result."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the process run did not end"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def test_run_streams_output_prefixed_with_the_name_and_reports_exit_code(capfd: pytest.CaptureFixture[str]) -> None:
    started: list[str] = []
    block = Process(name="brave-otter", command=python("print('hello'); import sys; print('oops', file=sys.stderr)"))

    result = block.run(on_started=started.append)

    assert result.status_code == 0
    assert started == [result.identifier]
    host, _, pid = result.identifier.rpartition(":")
    assert host == socket.gethostname() and pid.isdigit()
    out = capfd.readouterr().out
    assert "brave-otter | hello\n" in out
    assert "brave-otter | oops\n" in out


def test_run_reports_a_failing_exit_code() -> None:
    result = Process(command=python("raise SystemExit(3)"), stream_output=False).run()
    assert result.status_code == 3


def test_output_is_not_streamed_when_stream_output_is_false(capfd: pytest.CaptureFixture[str]) -> None:
    Process(name="quiet", command=python("print('hidden')"), stream_output=False).run()
    assert "hidden" not in capfd.readouterr().out


def test_env_is_merged_over_the_agent_environment_and_null_removes(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLUICE_TEST_KEPT", "kept")
    monkeypatch.setenv("SLUICE_TEST_REMOVED", "present")
    code = (
        "import os; "
        "print('kept=' + os.environ.get('SLUICE_TEST_KEPT', '-')); "
        "print('removed=' + os.environ.get('SLUICE_TEST_REMOVED', '-')); "
        "print('added=' + os.environ.get('SLUICE_TEST_ADDED', '-'))"
    )
    block = Process(name="env", command=python(code), env={"SLUICE_TEST_ADDED": "yes", "SLUICE_TEST_REMOVED": None})

    assert block.run().status_code == 0

    out = capfd.readouterr().out
    assert "env | kept=kept" in out
    assert "env | removed=-" in out
    assert "env | added=yes" in out


def test_default_working_dir_is_a_fresh_temporary_directory_removed_afterwards(
    capfd: pytest.CaptureFixture[str],
) -> None:
    Process(name="cwd", command=python("import os; print(os.getcwd())")).run()
    line = next(line for line in capfd.readouterr().out.splitlines() if line.startswith("cwd | "))
    directory = Path(line.removeprefix("cwd | "))
    assert directory.name.startswith("sluice-process-")
    assert not directory.exists()


def test_working_dir_is_used_and_kept(tmp_path: Path) -> None:
    block = Process(working_dir=str(tmp_path), command=python("open('marker', 'w').write('x')"))
    assert block.run().status_code == 0
    assert (tmp_path / "marker").read_text() == "x"


def test_missing_working_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"working_dir .* is not a directory"):
        Process(working_dir=str(tmp_path / "missing"), command=python("pass")).run()


def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(InfrastructureNotAvailable, match="cannot start 'no-such-program-sluice'"):
        Process(command=["no-such-program-sluice"]).run()


def test_default_command_uses_the_agent_interpreter() -> None:
    prepared = Process().prepare_for_flow_run("8a4c7f2e-0000-0000-0000-000000000001", flow_run_name="calm-fox")
    assert prepared.command == [sys.executable, "-m", "sluice.engine"]
    assert prepared.env["SLUICE__FLOW_RUN_ID"] == "8a4c7f2e-0000-0000-0000-000000000001"
    assert prepared.name == "calm-fox"


def test_kill_terminates_the_process_group(capfd: pytest.CaptureFixture[str]) -> None:
    # The child starts a grandchild; both must go, since the whole group is signalled.
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        "print('child', child.pid, flush=True); time.sleep(600)"
    )
    run = BackgroundRun(Process(name="sleepy", command=python(code)))
    seen: list[str] = []

    def grandchild_started() -> bool:
        seen.append(capfd.readouterr().out)
        return "sleepy | child" in "".join(seen)

    wait_for(grandchild_started, what="the grandchild to start")
    assert run.identifier is not None

    Process().kill(run.identifier, grace_seconds=10)

    result = run.join()
    assert result.status_code == -15
    pid = int(run.identifier.rpartition(":")[2])
    # The grandchild, orphaned, may linger as a zombie until PID 1 reaps it: that counts as gone.
    wait_for(lambda: not process_group_alive(pid), what="the whole process group to exit")


def test_kill_sends_sigkill_after_the_grace_period_to_a_process_ignoring_sigterm(
    capfd: pytest.CaptureFixture[str],
) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, lambda *a: print('ignored SIGTERM', flush=True)); "
        "print('ready', flush=True); time.sleep(600)"
    )
    run = BackgroundRun(Process(name="stubborn", command=python(code)))
    seen: list[str] = []

    def ready() -> bool:
        seen.append(capfd.readouterr().out)
        return "stubborn | ready" in "".join(seen)

    wait_for(ready, what="the child to install its SIGTERM handler")
    assert run.identifier is not None

    Process().kill(run.identifier, grace_seconds=0.5)

    result = run.join()
    assert result.status_code == -9
    seen.append(capfd.readouterr().out)
    assert "stubborn | ignored SIGTERM" in "".join(seen)


def test_kill_refuses_an_identifier_from_another_host() -> None:
    with pytest.raises(InfrastructureNotAvailable, match=r"started on host 'elsewhere'.*only an agent on 'elsewhere'"):
        Process().kill("elsewhere:1234")


def test_kill_of_a_finished_process_is_not_found() -> None:
    result = Process(command=python("pass")).run()
    with pytest.raises(InfrastructureNotFound, match="is not running"):
        Process().kill(result.identifier, grace_seconds=1)


def test_kill_rejects_a_malformed_identifier() -> None:
    with pytest.raises(ConfigurationError, match="expected 'hostname:pid'"):
        Process().kill("not-an-identifier")


def test_preview_shows_the_command_line_and_the_environment_it_adds() -> None:
    block = Process(
        command=["python", "-m", "sluice.engine"],
        env={"SLUICE__FLOW_RUN_ID": "abc", "DROP_ME": None, "SLUICE_API_KEY": "s3cret"},
        working_dir="/srv/runs",
    )
    preview = block.preview()
    assert preview == (
        "cd /srv/runs && env -u DROP_ME 'SLUICE_API_KEY=********' SLUICE__FLOW_RUN_ID=abc python -m sluice.engine"
    )


def test_preview_of_the_default_block_uses_the_agent_interpreter() -> None:
    assert Process().preview() == f'cd "$(mktemp -d)" && {sys.executable} -m sluice.engine'


STARTER = """
import sys
from sluice_process.process import Process

Process(command=[sys.executable, "-c", sys.argv[1]], stream_output=False).run(
    on_started=lambda identifier: print(identifier, flush=True)
)
"""


def test_the_process_has_a_lifeline_that_closes_when_the_process_that_started_it_dies(tmp_path: Path) -> None:
    marker = tmp_path / "lifeline-closed"
    child = (
        "import os\n"
        "lifeline = int(os.environ['SLUICE__LIFELINE_FD'])\n"
        "while os.read(lifeline, 64):\n"
        "    pass\n"
        f"open({str(marker)!r}, 'w').write('closed')\n"
    )
    # The starter plays the agent: it runs the block, then dies by SIGKILL (nothing of it can clean up).
    starter = subprocess.Popen([sys.executable, "-c", STARTER, child], stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None and ":" in starter.stdout.readline()  # the child runs
        assert not marker.exists()  # the child is blocked on its lifeline while the starter lives
    finally:
        starter.kill()
        starter.wait()
    wait_for(marker.exists, what="the child to see its lifeline close")


def test_a_process_that_ends_while_a_child_holds_its_output_ends_the_run_and_its_child_is_stopped(
    tmp_path: Path,
) -> None:
    # An engine killed by `kill -9`, or a flow that left a subprocess behind: the child keeps the output
    # pipe open, and must neither keep the run from ending nor outlive it.
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))"
    )
    result = BackgroundRun(Process(name="leaver", command=python(code))).join()
    assert result.status_code == 0
    child = int(pid_file.read_text())
    wait_for(lambda: not pid_alive(child), what="the child left behind to be stopped")
