"""Helpers of the browser tests: a real ``sluice server start`` (and agent) as subprocesses, and
Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
#: Chromium flags: headless, and no background traffic to hosts it cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the suite writes the screenshots docs/ui.md shows.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sluice_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``sluice`` subprocess: its own home, no settings from outside."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(SLUICE_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path, deadline_seconds: float = 60) -> None:
    """Poll ``{url}/api/health`` until it answers 200; fail with the server's output otherwise."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval of the deadline loop above
    raise AssertionError(f"the server at {url} did not become healthy:\n{log.read_text()}")


@contextmanager
def running(
    args: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``sluice ARGS`` in the background, output to ``log``; stopped (SIGTERM, then kill) on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "sluice"), *args], env=dict(env), stdout=output, stderr=subprocess.STDOUT, cwd=cwd
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def sluice_server(home: Path, **extra_env: str) -> Iterator[str]:
    """``sluice server start`` on a free loopback port; yields its base URL once it is healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / f"server-{port}.log"
    args = ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with running(args, sluice_env(home, **extra_env), log) as process:
        wait_until_healthy(url, process, log)
        yield url


def sluice_cli(cwd: Path, env: Mapping[str, str], *args: str) -> str:
    """Run one ``sluice`` command; its stdout (the test fails with its output if it fails)."""
    result = subprocess.run(
        [str(BIN / "sluice"), *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"sluice {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout
