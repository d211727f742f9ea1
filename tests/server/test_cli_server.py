"""``sluice server`` (cli/server.py): start a real server, the API key over HTTP, clean shutdown, database commands."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SLUICE = Path(sys.executable).parent / "sluice"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(process: subprocess.Popen, url: str, deadline_seconds: float = 120) -> None:
    deadline = time.monotonic() + deadline_seconds
    with httpx.Client(timeout=2) as probe:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if probe.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling a port that is not open yet
    pytest.fail("the server did not become healthy in time")


@pytest.fixture
def server(isolated_sluice_home):
    port = _free_port()
    env = {**os.environ, "SLUICE_HOME": str(isolated_sluice_home), "SLUICE_API_KEY": "k3y", "SLUICE_LOAD_PLUGINS": ""}
    env.pop("SLUICE_DATABASE_URL", None)
    process = subprocess.Popen(
        [str(SLUICE), "server", "start", "--port", str(port), "--no-services"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(process, url)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_server_enforces_the_api_key_and_stops_cleanly_on_sigterm(server):
    from sluice.client import SluiceClient

    process, url = server
    with httpx.Client() as anonymous:
        response = anonymous.get(f"{url}/version")
        assert response.status_code == 401
        assert "API key" in response.json()["detail"]
    with SluiceClient(api_url=url, api_key="k3y") as client:
        assert client.create_flow("over-http").name == "over-http"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


@pytest.mark.slow
def test_server_stops_cleanly_on_sigint(server):
    process, _ = server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0


def test_database_upgrade_and_reset(sluice_cli, sluice_plugin_manager):
    from sluice.client import get_client

    upgraded = sluice_cli("server", "database", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "revision" in upgraded.output
    with get_client() as client:
        client.create_flow("doomed")
    refused = sluice_cli("server", "database", "reset", input="n\n")
    assert refused.exit_code != 0
    with get_client() as client:
        assert client.read_flow_by_name("doomed")
    reset = sluice_cli("server", "database", "reset", "--yes")
    assert reset.exit_code == 0, reset.output
    with get_client() as client:
        assert client.filter_flows() == []
