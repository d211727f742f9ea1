"""``Process``: run a flow run's engine as a subprocess of the agent, on the agent's machine."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from sluice.blocks import InfrastructureBlock, InfrastructureResult, looks_secret
from sluice.errors import ConfigurationError, InfrastructureNotAvailable, InfrastructureNotFound
from sluice.infrastructure import KILL_GRACE_SECONDS, LIFELINE_FD_VARIABLE

_POLL_SECONDS = 0.05
#: Seconds the output of an ended process is still read, once its process group is gone.
_OUTPUT_DRAIN_SECONDS = 5.0


class Process(InfrastructureBlock):
    """Run each flow run as a local process started by the agent.

    The command defaults to ``python -m sluice.engine`` with the agent's own interpreter. ``env`` is
    merged over the agent's environment; a value of null removes a variable. The process gets a
    session (and process group) of its own, so ``kill`` reaches every child it started. It also gets
    a lifeline: the read end of a pipe (``SLUICE__LIFELINE_FD``) whose write end only the starting
    process holds, so the engine stops its flow when the agent dies, even by ``kill -9``.
    """

    block_type_slug: ClassVar[str] = "process"
    block_type_name: ClassVar[str | None] = "Process"

    #: The directory the process starts in; a fresh temporary directory (removed afterwards) when unset.
    working_dir: str | None = None

    def default_command(self) -> list[str]:
        """``python -m sluice.engine`` with the interpreter the agent runs on."""
        return [sys.executable, "-m", "sluice.engine"]

    # -- running ---------------------------------------------------------------------------------

    def run(self, on_started: Callable[[str], None] | None = None) -> InfrastructureResult:
        """Start the process, stream its output, wait for it and return its exit code.

        The identifier is ``hostname:pid``. A process killed by a signal reports ``-signal``, as
        ``subprocess`` does. When it ends, whatever it left running in its process group is stopped
        (SIGTERM, SIGKILL after ``KILL_GRACE_SECONDS``), as a container's processes end with it: the
        run ends when the process does, even if a child still holds its output.
        """
        command = self.command or self.default_command()
        working_dir, temporary = self._working_dir()
        lifeline, held = os.pipe()  # the process reads; only this (agent) process holds the write end
        try:
            process = self._start(command, working_dir, lifeline)
            os.close(lifeline)
            lifeline = -1
            identifier = f"{socket.gethostname()}:{process.pid}"
            streaming = self._stream(process)
            if on_started is not None:
                on_started(identifier)
            status_code = process.wait()
            _stop_group(process.pid, KILL_GRACE_SECONDS)
            if streaming is not None:
                # The group is gone, so the pipe closes — unless a process left the group (setsid) with it.
                streaming.join(_OUTPUT_DRAIN_SECONDS)
        finally:
            for descriptor in (lifeline, held):
                if descriptor >= 0:
                    os.close(descriptor)
            if temporary:
                shutil.rmtree(working_dir, ignore_errors=True)
        return InfrastructureResult(identifier=identifier, status_code=status_code)

    def _stream(self, process: subprocess.Popen[str]) -> threading.Thread | None:
        """Copy the process's output to ``write_output`` in a thread of its own (None without output).

        Not in the caller's thread: the run must end when the process does, not when every process
        that inherited its output has closed it.
        """
        output = process.stdout
        if output is None:
            return None

        def copy() -> None:
            with output:
                for line in output:
                    self.write_output(line)

        thread = threading.Thread(target=copy, name=f"sluice-output-{process.pid}", daemon=True)
        thread.start()
        return thread

    def _working_dir(self) -> tuple[Path, bool]:
        if self.working_dir is None:
            return Path(tempfile.mkdtemp(prefix="sluice-process-")), True
        path = Path(self.working_dir).expanduser()
        if not path.is_dir():
            raise ConfigurationError(f"process block: working_dir {str(path)!r} is not a directory; create it first")
        return path, False

    def _start(self, command: list[str], working_dir: Path, lifeline: int) -> subprocess.Popen[str]:
        output = subprocess.PIPE if self.stream_output else subprocess.DEVNULL
        env = {**self.environment(os.environ), LIFELINE_FD_VARIABLE: str(lifeline)}
        try:
            return subprocess.Popen(
                command,
                cwd=working_dir,
                env=env,
                pass_fds=(lifeline,),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
            )
        except OSError as exc:
            raise InfrastructureNotAvailable(
                f"process block: cannot start {shlex.join(command)!r}: {exc.strerror or exc}; "
                "check the 'command' field and that the program is installed on the agent's host"
            ) from exc

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` (the agent's environment) with ``env`` merged over it; null values remove."""
        merged = dict(base)
        for key, value in self.env.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    # -- killing ---------------------------------------------------------------------------------

    def kill(self, identifier: str, grace_seconds: float = 30) -> None:
        """SIGTERM the process group ``hostname:pid``, then SIGKILL it after ``grace_seconds``.

        Raises ``InfrastructureNotAvailable`` for an identifier from another host and
        ``InfrastructureNotFound`` when the process is already gone.
        """
        host, pid = _parse_identifier(identifier)
        here = socket.gethostname()
        if host != here:
            raise InfrastructureNotAvailable(
                f"process {pid} was started on host {host!r}, but this is {here!r}: "
                f"only an agent on {host!r} can kill it"
            )
        if not _stop_group(pid, grace_seconds):
            raise InfrastructureNotFound(f"process {identifier} is not running (it may have finished)")

    # -- preview ---------------------------------------------------------------------------------

    def preview(self) -> str:
        """A shell line that does what ``run`` does: ``cd DIR && env -u X KEY=value command``."""
        command = self.command or self.default_command()
        parts = ["env"]
        for key, value in sorted(self.env.items()):
            if value is None:
                parts += ["-u", key]
        for key, value in sorted(self.env.items()):
            if value is not None:
                shown = "********" if looks_secret(key) else value
                parts.append(f"{key}={shown}")
        line = shlex.join(parts + command) if len(parts) > 1 else shlex.join(command)
        directory = shlex.quote(self.working_dir) if self.working_dir else '"$(mktemp -d)"'
        return f"cd {directory} && {line}"


def _parse_identifier(identifier: str) -> tuple[str, int]:
    host, _, pid = identifier.rpartition(":")
    if not host or not pid.isdigit():
        raise ConfigurationError(f"invalid process identifier {identifier!r}: expected 'hostname:pid'")
    return host, int(pid)


def _stop_group(pgid: int, grace_seconds: float) -> bool:
    """SIGTERM the process group ``pgid``, then SIGKILL what is left after ``grace_seconds``; returns
    False when no process of the group was running."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_seconds
    while process_group_alive(pgid):
        if time.monotonic() >= deadline:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        time.sleep(_POLL_SECONDS)
    return True


def process_group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` is still running (zombies waiting to be reaped don't count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        fields = stat.rpartition(")")[2].split()
        if len(fields) >= 3 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False
