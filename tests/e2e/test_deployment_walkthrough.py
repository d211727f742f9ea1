"""The walk-through of docs/deployments.md, run as a new user would: the ``sluice`` console script as a
subprocess, on the embedded database in the test's own ``SLUICE_HOME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from sluice.client import get_client

BIN = Path(sys.executable).parent
MARVIN = '''from sluice import flow, get_run_logger


@flow
def say_hi(name: str = "Marvin"):
    """Say hi."""
    get_run_logger().info(f"Hello {name}!")
'''


def sluice(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``sluice ARGS`` in ``cwd`` and return the finished process."""
    result = subprocess.run([str(BIN / "sluice"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"sluice {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_walkthrough_from_a_flow_file_to_runs(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(MARVIN)

    built = sluice(tmp_path, "deployment", "build", "flows/marvin.py:say_hi", "-n", "marvin", "-q", "test")
    assert "Deployment YAML created at 'say_hi-deployment.yaml'." in built.stdout
    data = yaml.safe_load((tmp_path / "say_hi-deployment.yaml").read_text())
    assert (data["name"], data["flow_name"], data["work_queue_name"]) == ("marvin", "say-hi", "test")
    assert data["entrypoint"] == "flows/marvin.py:say_hi"
    assert data["path"] == str(tmp_path.resolve())
    assert data["infrastructure"]["type"] == "process"
    assert data["parameter_openapi_schema"]["properties"]["name"]["default"] == "Marvin"

    applied = sluice(tmp_path, "deployment", "apply", "say_hi-deployment.yaml")
    assert applied.stdout.startswith("Deployment 'say-hi/marvin' successfully created with id '")
    deployment_id = applied.stdout.split("'")[-2]

    assert "say-hi/marvin" in sluice(tmp_path, "deployment", "ls").stdout
    inspected = json.loads(sluice(tmp_path, "deployment", "inspect", "say-hi/marvin", "--json").stdout)
    assert inspected["id"] == deployment_id

    ran = sluice(tmp_path, "deployment", "run", "say-hi/marvin", "--param", "name=Arthur")
    run_id = ran.stdout.split("with id '")[1].split("'")[0]

    # What an agent does: claim the run, then start the engine with the run's id.
    with get_client() as client:
        client.set_flow_run_state(run_id, "PENDING", force=True)
    engine = subprocess.run(
        [sys.executable, "-m", "sluice.engine"],
        env={**os.environ, "SLUICE__FLOW_RUN_ID": run_id},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert engine.returncode == 0, engine.stderr
    with get_client() as client:
        run = client.read_flow_run(run_id)
        assert run.state.type.value == "COMPLETED"
        assert "Hello Arthur!" in [log.message for log in client.filter_logs(run_id)]

    executed = sluice(tmp_path, "deployment", "execute", "say-hi/marvin")
    assert "finished in state Completed" in executed.stdout

    sluice(tmp_path, "deployment", "delete", "say-hi/marvin")
    assert json.loads(sluice(tmp_path, "deployment", "ls", "--json").stdout) == []
    gone = sluice(tmp_path, "deployment", "inspect", "say-hi/marvin", check=False)
    assert gone.returncode == 1
    assert (
        gone.stderr
        == "Error: deployment 'say-hi/marvin' not found (see `sluice deployment ls` for the deployments there are)\n"
    )


def test_bad_input_in_a_subprocess_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(MARVIN)
    result = sluice(
        tmp_path, "deployment", "build", "flows/marvin.py:say_hi", "-n", "m", "--override", "x", check=False
    )
    assert result.returncode == 1
    assert result.stderr == "Error: --override 'x' is not KEY=VALUE (e.g. --override env.LOG_LEVEL=DEBUG)\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["flows"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, server: subprocess.Popen[str]) -> None:
    import time

    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited early"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer within 60 s")


def test_walkthrough_with_a_server_and_an_agent(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(MARVIN)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [str(BIN / "sluice"), "server", "start", "--port", str(port), "--no-services"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    agent: subprocess.Popen[str] | None = None
    try:
        wait_for_health(url, server)
        monkeypatch.setenv("SLUICE_API_URL", url)
        agent = subprocess.Popen(
            [str(BIN / "sluice"), "agent", "start", "-q", "test", "--prefetch-seconds", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        sluice(tmp_path, "deployment", "build", "flows/marvin.py:say_hi", "-n", "marvin", "-q", "test", "--apply")
        watched = sluice(tmp_path, "deployment", "run", "say-hi/marvin", "--param", "name=Arthur", "--watch")
        assert "Hello Arthur!" in watched.stdout
        assert "is Completed" in watched.stdout
    finally:
        for process in (agent, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
