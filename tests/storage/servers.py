"""Start and stop the real servers the storage tests talk to: always on 127.0.0.1, on free ports,
with data in a temporary folder, readiness polled with a deadline, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def free_port_pair(offset: int = 10000) -> int:
    """A free port ``p`` whose ``p + offset`` is free too (SeaweedFS puts gRPC there)."""
    for _ in range(100):
        port = free_port()
        if port + offset < 65536 and port_is_free(port + offset):
            return port
    raise RuntimeError("no free pair of ports found")


def port_is_free(port: int) -> bool:
    """True when nothing is bound to ``port`` on the loopback address."""
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = LOOPBACK) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@dataclass
class ServerProcess:
    """A server started by the tests: its process, the port it answers on and its log."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_until(self, ready: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> None:
        """Poll ``ready()`` until it is true; fail with the log when the deadline passes or the server dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(interval)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the server's process group, then SIGKILL after ``grace`` seconds."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def start_server(
    name: str,
    command: Sequence[str],
    port: int,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start ``command`` in its own process group, its output in ``log_path``."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        list(command),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
    )
    log.close()
    return ServerProcess(name, process, port, log_path)
