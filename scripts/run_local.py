"""``make run``: a local Sluice — the API server on SQLite, an agent, and the example deployments.

1. ``SLUICE_HOME`` defaults to ``.sluice/`` in the repository (set it to use another folder, e.g.
   ``SLUICE_HOME=~/.sluice make run``); the SQLite database and local storage live there.
2. ``sluice server start`` on 127.0.0.1, port ``SLUICE_SERVER_PORT`` (default 4200; the next free port
   when it is taken), then wait until ``/api/health`` answers.
3. The example deployments in ``examples/flows``: ``hello/hello`` every minute (cron ``* * * * *``) and
   ``etl/etl`` with parameters, on the ``default`` queue; one run of ``etl/etl`` right away.
4. ``sluice agent start -q default``.

Ctrl-C (or SIGTERM) stops the agent, then the server, and exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SLUICE = [str(Path(sys.executable).parent / "sluice")]
HEALTH_DEADLINE = 60.0

#: (entrypoint, deployment name, extra build options)
DEPLOYMENTS = [
    ("flows/hello.py:hello", "hello", ["--cron", "* * * * *", "--param", "name=Sluice"]),
    ("flows/etl.py:etl", "etl", ["--param", "count=500", "--param", "scale=0.5"]),
]


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens on it, else a free port picked by the OS."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def wait_for_health(api_url: str, server: subprocess.Popen[bytes]) -> None:
    """Poll ``/api/health`` until it answers, the server exits, or the deadline passes."""
    deadline = time.monotonic() + HEALTH_DEADLINE
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before it was ready")
        try:
            if httpx.get(f"{api_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer at {api_url}/health within {HEALTH_DEADLINE:.0f}s")


def sluice(*args: str, env: dict[str, str]) -> None:
    """Run one ``sluice`` command in ``examples/``; a failure stops ``make run``."""
    result = subprocess.run([*SLUICE, *args], cwd=EXAMPLES, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`sluice {' '.join(args)}` failed with exit code {result.returncode}")


def apply_examples(home: Path, env: dict[str, str]) -> None:
    """Build and apply the example deployments (YAML files under ``$SLUICE_HOME/deployments``)."""
    output = home / "deployments"
    output.mkdir(parents=True, exist_ok=True)
    for entrypoint, name, options in DEPLOYMENTS:
        target = output / f"{name}-deployment.yaml"
        sluice(
            "deployment",
            "build",
            entrypoint,
            "-n",
            name,
            "-q",
            "default",
            "-o",
            str(target),
            "--apply",
            *options,
            env=env,
        )
    sluice("deployment", "run", "etl/etl", env=env)


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 40.0) -> None:
    """SIGTERM a child (and its session), then SIGKILL it if it does not end within ``timeout``."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> int:
    """Start everything, print where it is, and wait for Ctrl-C."""
    home = Path(os.environ.get("SLUICE_HOME") or ROOT / ".sluice").expanduser().resolve()
    port = free_port(int(os.environ.get("SLUICE_SERVER_PORT", "4200")))
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SLUICE_HOME": str(home), "SLUICE_SERVER_HOST": "127.0.0.1", "SLUICE_SERVER_PORT": str(port)}
    env.pop("SLUICE_API_URL", None)
    env.pop("SLUICE_DATABASE_URL", None)
    client_env = {**env, "SLUICE_API_URL": f"{base}/api"}

    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    server = agent = None
    try:
        print(f"Sluice home: {home}", flush=True)
        server = subprocess.Popen([*SLUICE, "server", "start"], env=env, start_new_session=True)
        wait_for_health(f"{base}/api", server)
        if stopping:
            return 0
        apply_examples(home, client_env)
        if stopping:
            return 0
        agent = subprocess.Popen([*SLUICE, "agent", "start", "-q", "default"], env=client_env, start_new_session=True)
        print(
            f"\nSluice is running.\n  API   {base}/api\n  docs  {base}/docs\n  UI    {base}/\n"
            "  agent polling the 'default' work queue; hello/hello runs every minute.\n"
            f"  Try: SLUICE_API_URL={base}/api .venv/bin/sluice flow-run ls\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stopping:
            for name, process in (("server", server), ("agent", agent)):
                if process.poll() is not None:
                    raise RuntimeError(f"the {name} exited unexpectedly with code {process.returncode}")
            time.sleep(0.2)
        print("\nStopping the agent and the server…", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    finally:
        stop(agent)
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
