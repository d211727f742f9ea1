"""``SubprocessInfrastructure``: a ready base for infrastructure that runs the engine as a local process.

A plugin subclasses it, sets ``block_type_slug``, and has a working infrastructure type: the engine
runs with the agent's own interpreter (``sys.executable -m sluice.engine``, so a first run never fails
with ``No module named 'sluice'``), its output is streamed through ``write_output``, it starts in a
session (and process group) of its own, ``kill`` stops the whole group with SIGTERM then SIGKILL after
the grace period, ``preview`` shows the shell line, and the engine gets a lifeline (see
``sluice.lifeline``) so that its flow stops when the agent dies, even by ``kill -9``.

To change how the process is started, override ``command_for_run`` (wrap the command: ``nice``,
``sudo -u``), ``environment`` or ``working_directory``; everything else follows. Only the standard
library is imported.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sluice.blocks import MASK, InfrastructureBlock, InfrastructureResult, looks_secret
from sluice.errors import ConfigurationError, InfrastructureNotAvailable, InfrastructureNotFound
from sluice.lifeline import KILL_GRACE_SECONDS, LIFELINE_FD_VARIABLE

#: Seconds between two checks of whether a killed process group is gone.
_POLL_SECONDS = 0.05
#: Seconds the output of an ended process is still read, once its process group is gone.
_OUTPUT_DRAIN_SECONDS = 5.0


class SubprocessInfrastructure(InfrastructureBlock):
    """Run each flow run's engine as a local process started by the agent (abstract: set a slug).

    ``env`` is merged over the agent's environment; a value of null removes a variable. The
    identifier given to ``on_started`` and ``kill`` is ``hostname:pid``; only an agent on that host
    can kill it. A process killed by a signal reports ``-signal`` as its exit code, as ``subprocess``
    does.
    """

    #: The directory the process starts in; a fresh temporary directory (removed afterwards) when unset.
    working_dir: str | None = None

    # -- what a subclass may change ---------------------------------------------------------------

    def command_for_run(self) -> list[str]:
        """The command line to start: ``command`` or ``default_command()`` (the engine, with the agent's
        interpreter). Override it to wrap the command (``["nice", "-n", "10", *super().command_for_run()]``)."""
        return list(self.command or self.default_command())

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` (the agent's environment) with ``env`` merged over it; null values remove."""
        merged = dict(base)
        for key, value in self.env.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    def working_directory(self) -> tuple[Path, bool]:
        """``(directory, temporary)``: ``working_dir``, which must exist, or a new temporary directory
        that ``run`` removes afterwards."""
        if self.working_dir is None:
            return Path(tempfile.mkdtemp(prefix=f"sluice-{self.block_type_slug}-")), True
        path = Path(self.working_dir).expanduser()
        if not path.is_dir():
            raise ConfigurationError(
                f"{self.block_type_slug} block: working_dir {str(path)!r} is not a directory; create it first"
            )
        return path, False

    # -- running ---------------------------------------------------------------------------------

    def run(self, on_started: Callable[[str], None] | None = None) -> InfrastructureResult:
        """Start the process, stream its output, wait for it and return its exit code.

        When it ends, whatever it left running in its process group is stopped (SIGTERM, SIGKILL after
        ``KILL_GRACE_SECONDS``), as a container's processes end with it: the run ends when the process
        does, even if a child still holds its output.
        """
        command = self.command_for_run()
        working_dir, temporary = self.working_directory()
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
                start_new_session=True,  # a group of its own: kill reaches every child it starts
            )
        except OSError as exc:
            raise InfrastructureNotAvailable(
                f"{self.block_type_slug} block: cannot start {shlex.join(command)!r}: {exc.strerror or exc}; "
                "check the 'command' field and that the program is installed on the agent's host"
            ) from exc

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
        command = self.command_for_run()
        parts = ["env"]
        for key, value in sorted(self.env.items()):
            if value is None:
                parts += ["-u", key]
        for key, value in sorted(self.env.items()):
            if value is not None:
                parts.append(f"{key}={MASK if looks_secret(key) else value}")
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
