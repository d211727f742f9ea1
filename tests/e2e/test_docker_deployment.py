"""A deployment on the docker-container infrastructure, end to end, on a private Podman engine.

A real API server (SQLite) and a real agent run as subprocesses; the agent starts the run's engine in
a container (the busybox image with the host's Python and this project mounted read-only, host
networking so the loopback API URL works — see ``tests/infra/podman.py``), the engine runs the flow
and reports COMPLETED, and the flow's output reaches the agent's stdout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sluice_docker.container import DockerContainer
from tests.infra.podman import PodmanEngine, podman_engine  # noqa: F401  (the session fixture)

SLUICE = str(Path(sys.executable).with_name("sluice"))
FLOW_SOURCE = """
from sluice import flow, get_run_logger


@flow(name="greet-in-container")
def greet(name: str = "container") -> str:
    import os
    print(f"hello {name}, pid {os.getpid()}", flush=True)
    get_run_logger().info("greeted %s", name)
    return name
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's session, SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture
def api_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``sluice server start`` on a free loopback port with its own SQLite home; its API URL."""
    port = free_port()
    home = tmp_path / "server-home"
    environment = {**os.environ, "SLUICE_HOME": str(home), "SLUICE_SERVER_HOST": "127.0.0.1"}
    environment["SLUICE_SERVER_PORT"] = str(port)
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [SLUICE, "server", "start"], env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"the server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop(server)
            pytest.fail("the server did not answer /api/health within 60s")
        time.sleep(0.1)
    monkeypatch.setenv("SLUICE_API_URL", url)
    try:
        yield url
    finally:
        stop(server)


@pytest.mark.slow
def test_a_deployment_runs_through_an_agent_in_a_podman_container(
    podman_engine: PodmanEngine,  # noqa: F811
    api_url: str,
    tmp_path: Path,
) -> None:
    from sluice.deployments import run_deployment

    project = tmp_path / "project"
    project.mkdir()
    (project / "greet.py").write_text(FLOW_SOURCE)
    # The run's code is the local folder (no storage block): mount it at the same path.
    fields = podman_engine.container_fields(f"{project}:{project}:rw")
    DockerContainer(**fields).save("podman")
    environment = {**os.environ, "SLUICE_API_URL": api_url, "DOCKER_HOST": podman_engine.docker_host}
    output = str(tmp_path / "greet-deployment.yaml")
    arguments = ["deployment", "build", "greet.py:greet", "-n", "in-podman", "-q", "podman"]
    arguments += ["-ib", "docker-container/podman", "--apply", "-o", output]
    build = subprocess.run(
        [SLUICE, *arguments],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr

    agent_log = tmp_path / "agent.log"
    agent = subprocess.Popen(
        [SLUICE, "agent", "start", "-q", "podman", "--prefetch-seconds", "0"],
        env=environment,
        stdout=agent_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        run = run_deployment("greet-in-container/in-podman", parameters={"name": "podman"}, timeout=120)
    finally:
        stop(agent)

    log = agent_log.read_text()
    assert run.state is not None and run.state.type.value == "COMPLETED", f"{run.state!r}\n{log[-3000:]}"
    assert run.infrastructure_pid and len(run.infrastructure_pid) == 64  # a container id
    assert "| hello podman, pid " in log
