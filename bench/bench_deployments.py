"""Benchmarks of ``sluice deployment``: prints one figure per line.

- ``deployment build --skip-upload --apply`` as a subprocess (median), on the embedded API and against
  a running ``sluice server start`` (target: under 0.5 s);
- ``deployment ls`` with 1,000 deployments (median);
- ``deployment build`` uploading a 1,000-file folder to local-file-system storage (median).

Everything happens in a temporary ``SLUICE_HOME``; run with ``.venv/bin/python bench/bench_deployments.py``.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
SLUICE = str(BIN / "sluice")
FLOW = '''from sluice import flow


@flow
def say_hi(name: str = "Marvin"):
    """Say hi."""
    print(f"Hello {name}!")
'''


def median_seconds(run: Callable[[int], None], repeat: int) -> float:
    """The median wall time of ``run(i)`` over ``repeat`` calls, after one warm-up call."""
    run(-1)
    times = []
    for index in range(repeat):
        started = time.perf_counter()
        run(index)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sluice(cwd: Path, env: dict[str, str], *args: str) -> None:
    """Run the CLI and fail loudly if it fails."""
    result = subprocess.run([SLUICE, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"sluice {' '.join(args)} failed: {result.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``sluice server start`` on a free port; returns the process and its API URL once it answers."""
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [SLUICE, "server", "start", "--port", str(port), "--no-services"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start within 60 s")


def bench_build(project: Path, env: dict[str, str], label: str) -> None:
    def build(index: int) -> None:
        sluice(project, env, "deployment", "build", "flows/marvin.py:say_hi", "-n", f"b{index}", "-q", "test",
               "--skip-upload", "--apply", "-o", "out.yaml")  # fmt: skip

    print(f"deployment build --skip-upload --apply, {label} (median of 7): {median_seconds(build, 7):.3f} s")


def bench_ls(project: Path, env: dict[str, str]) -> None:
    from sluice.client import get_client

    os.environ.update(env)
    with get_client() as client:
        for index in range(1000):
            client.create_deployment(
                f"many-{index:04d}", flow_name="bench-ls", work_queue_name="bench", tags=["bench"],
                schedule={"type": "interval", "interval": 3600},
            )  # fmt: skip
    listed = median_seconds(lambda index: sluice(project, env, "deployment", "ls"), 5)
    as_json = median_seconds(lambda index: sluice(project, env, "deployment", "ls", "--json"), 5)
    print(f"deployment ls with 1,000 deployments, table (median of 5): {listed:.3f} s")
    print(f"deployment ls --json with 1,000 deployments (median of 5): {as_json:.3f} s")


def bench_upload(project: Path, env: dict[str, str], storage: Path) -> None:
    from sluice.filesystems import LocalFileSystem

    os.environ.update(env)
    LocalFileSystem(basepath=str(storage)).save("bench", overwrite=True)
    data = project / "data"
    data.mkdir()
    for index in range(999):
        (data / f"file-{index:04d}.txt").write_text(f"line {index}\n" * 20)

    def build(index: int) -> None:
        sluice(project, env, "deployment", "build", "flows/marvin.py:say_hi", "-n", "upload", "-q", "test",
               "-sb", f"local-file-system/bench/run-{index}", "-o", "upload.yaml")  # fmt: skip

    print(f"deployment build uploading 1,000 files to local storage (median of 5): {median_seconds(build, 5):.3f} s")


def main() -> None:
    """Run every benchmark in a fresh temporary SLUICE_HOME."""
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as temp:
        root = Path(temp)
        project = root / "project"
        (project / "flows").mkdir(parents=True)
        (project / "flows" / "marvin.py").write_text(FLOW)
        # A user's CLI runs from cached bytecode: let the warm-up runs write .pyc files for the workspace
        # sources (PYTHONDONTWRITEBYTECODE would make every run compile them again).
        skip = {"SLUICE_API_URL", "PYTHONDONTWRITEBYTECODE"}
        env = {key: value for key, value in os.environ.items() if key not in skip}
        env["SLUICE_HOME"] = str(root / "home")
        floor = median_seconds(lambda index: sluice(project, env, "--version"), 7)
        print(f"baseline: sluice --version (median of 7): {floor:.3f} s")
        bench_build(project, env, "embedded API")
        server, url = start_server(env)
        try:
            served = {**env, "SLUICE_API_URL": url}
            bench_build(project, served, "running server")
            bench_ls(project, served)
            bench_upload(project, served, root / "storage")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
