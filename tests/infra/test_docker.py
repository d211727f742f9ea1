"""The 'docker-container' infrastructure block, for real, against a private Podman engine.

Podman's ``system service`` speaks the Docker API (``podman.py`` starts it). No registry can be
reached from here, so the image is a local busybox root file system, and the host's Python and this
project are bind-mounted read-only into each container. Every container gets ``network_mode``
``none`` or ``host`` so Podman never creates a bridge network on the host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from sluice.blocks import InfrastructureResult
from sluice.errors import ConfigurationError, InfrastructureNotAvailable, InfrastructureNotFound
from sluice_docker.container import DockerContainer
from tests.infra.podman import PodmanEngine

FLOW_RUN_ID = "3c9e4a1b-7d2f-4e60-8b15-0a6f5c2d9e11"


@pytest.fixture
def engine(podman_engine: PodmanEngine, monkeypatch: pytest.MonkeyPatch) -> PodmanEngine:
    """The session's Podman engine, selected through ``DOCKER_HOST`` as a user would."""
    monkeypatch.setenv("DOCKER_HOST", podman_engine.docker_host)
    return podman_engine


@pytest.fixture
def client(engine: PodmanEngine) -> Iterator[docker.DockerClient]:
    """A docker SDK client of the test's own, to inspect what the block did."""
    api = docker.DockerClient(base_url=engine.docker_host)
    yield api
    api.close()


def python_block(engine: PodmanEngine, code: str, **fields: Any) -> DockerContainer:
    """A prepared block whose container runs ``code`` with the project's interpreter."""
    settings = {**engine.container_fields(network_mode="none"), "command": [engine.python, "-u", "-c", code]}
    return DockerContainer(**{**settings, **fields}).prepare_for_flow_run(
        FLOW_RUN_ID,
        flow_run_name="quiet-heron",
        deployment_id="9d8c7b6a-0000-4000-8000-000000000001",
        flow_id="9d8c7b6a-0000-4000-8000-000000000002",
        flow_name="nightly",
        api_url="http://127.0.0.1:4200/api",
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_container_runs_python_streams_output_and_is_labelled(
    engine: PodmanEngine, client: docker.DockerClient, capfd: pytest.CaptureFixture[str]
) -> None:
    code = "import os, sluice; print('engine for', os.environ['SLUICE__FLOW_RUN_ID']); print('done')"
    started: list[str] = []

    result = python_block(engine, code).run(on_started=started.append)

    assert result.status_code == 0
    assert started == [result.identifier]
    out = capfd.readouterr().out
    assert f"quiet-heron | engine for {FLOW_RUN_ID}" in out
    assert "quiet-heron | done" in out
    labels = client.containers.get(result.identifier).labels
    assert labels["sluice.io/flow-run-id"] == FLOW_RUN_ID
    assert labels["sluice.io/deployment-id"] == "9d8c7b6a-0000-4000-8000-000000000001"
    assert labels["sluice.io/flow-name"] == "nightly"


def test_a_loopback_api_url_is_kept_with_host_networking_and_rewritten_otherwise(
    engine: PodmanEngine, capfd: pytest.CaptureFixture[str]
) -> None:
    code = "import os; print('api', os.environ['SLUICE_API_URL'])"
    python_block(engine, code, network_mode="host", auto_remove=True).run()
    assert "quiet-heron | api http://127.0.0.1:4200/api" in capfd.readouterr().out
    python_block(engine, code, network_mode="none", auto_remove=True).run()
    assert "quiet-heron | api http://host.containers.internal:4200/api" in capfd.readouterr().out


def test_a_failing_command_reports_its_exit_code(engine: PodmanEngine) -> None:
    result = python_block(engine, "raise SystemExit(7)", stream_output=False).run()
    assert result.status_code == 7


def test_auto_remove_removes_the_container_after_reading_its_exit_code(
    engine: PodmanEngine, client: docker.DockerClient
) -> None:
    result = python_block(engine, "raise SystemExit(2)", auto_remove=True, stream_output=False).run()
    assert result.status_code == 2
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(result.identifier)


def test_a_taken_container_name_gets_a_suffix(engine: PodmanEngine, client: docker.DockerClient) -> None:
    first = python_block(engine, "pass", name="same-name", stream_output=False).run()
    second = python_block(engine, "pass", name="same-name", stream_output=False).run()
    assert client.containers.get(first.identifier).name == "same-name"
    assert client.containers.get(second.identifier).name == "same-name-1"


class BackgroundRun:
    """``block.run()`` in a thread, as the agent does."""

    def __init__(self, block: DockerContainer) -> None:
        self.identifier: str | None = None
        self.result: InfrastructureResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(block,), daemon=True)
        self._thread.start()

    def _run(self, block: DockerContainer) -> None:
        try:
            self.result = block.run(on_started=self._started)
        except BaseException as exc:
            self.error = exc

    def _started(self, identifier: str) -> None:
        self.identifier = identifier

    def join(self, timeout: float = 60) -> InfrastructureResult:
        """Wait for ``run`` to return and give its result."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "run() did not return"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def test_kill_stops_and_removes_a_running_container(
    engine: PodmanEngine, client: docker.DockerClient, capfd: pytest.CaptureFixture[str]
) -> None:
    code = "import time; print('ready', flush=True); time.sleep(600)"
    block = python_block(engine, code, name="sleepy-heron")
    run = BackgroundRun(block)
    seen: list[str] = []

    def ready() -> bool:
        seen.append(capfd.readouterr().out)
        return "sleepy-heron | ready" in "".join(seen)

    wait_for(ready, what="the container to start")
    assert run.identifier is not None

    block.kill(run.identifier, grace_seconds=2)

    result = run.join()
    assert result.status_code != 0
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(run.identifier)


def test_the_engine_module_runs_in_the_container(engine: PodmanEngine, capfd: pytest.CaptureFixture[str]) -> None:
    # What an end-to-end run through an agent needs; without a flow run id the engine explains and exits 2.
    result = DockerContainer(name="engine-check", **engine.container_fields()).run()
    assert result.status_code == 2
    assert "engine-check | sluice.engine: set SLUICE__FLOW_RUN_ID" in capfd.readouterr().out


def test_a_command_missing_from_the_image_is_a_clear_error(engine: PodmanEngine, client: docker.DockerClient) -> None:
    block = DockerContainer(image=engine.image, image_pull_policy="NEVER", network_mode="none", command=["/no/such"])
    with pytest.raises(InfrastructureNotAvailable, match=f"the container for image '{engine.image}' could not start"):
        block.run()
    assert client.containers.list(all=True, filters={"ancestor": engine.image, "status": "created"}) == []


def test_kill_of_an_unknown_container_is_not_found(engine: PodmanEngine) -> None:
    with pytest.raises(InfrastructureNotFound, match="container 'no-such-container' not found on the Docker engine"):
        DockerContainer().kill("no-such-container")


@pytest.mark.parametrize("policy", ["IF_NOT_PRESENT", "ALWAYS"])
def test_a_missing_image_that_cannot_be_pulled_is_one_clear_error(engine: PodmanEngine, policy: str) -> None:
    block = DockerContainer(image="sluice-test/missing:1", image_pull_policy=policy, network_mode="none")
    with pytest.raises(InfrastructureNotAvailable) as caught:
        block.run()
    message = str(caught.value)
    assert "image 'sluice-test/missing:1' could not be pulled by the Docker engine at unix://" in message
    assert "set image_pull_policy NEVER" in message


def test_a_missing_image_with_never_is_a_clear_error(engine: PodmanEngine) -> None:
    block = DockerContainer(image="sluice-test/missing:1", image_pull_policy="NEVER", network_mode="none")
    with pytest.raises(InfrastructureNotAvailable, match="image 'sluice-test/missing:1' is not on the Docker engine"):
        block.run()


def test_an_unreachable_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(InfrastructureNotAvailable, match=r"cannot reach a Docker engine at unix://.*nothing\.sock"):
        DockerContainer().run()


def test_preview_prints_the_equivalent_docker_run_line() -> None:
    block = DockerContainer(
        image="registry.example/flows:3",
        image_pull_policy="ALWAYS",
        volumes=["/data:/data:ro"],
        mem_limit="512m",
        memswap_limit="1g",
        privileged=True,
        env={"SLUICE_API_KEY": "s3cret", "GONE": None},
    ).prepare_for_flow_run(FLOW_RUN_ID, flow_run_name="quiet-heron", api_url="http://localhost:4200/api")

    assert block.preview() == (
        "docker run --detach --name quiet-heron "
        f"--label sluice.io/flow-run-id={FLOW_RUN_ID} --label sluice.io/flow-run-name=quiet-heron "
        "--env 'SLUICE_API_KEY=********' --env SLUICE_API_URL=http://host.docker.internal:4200/api "
        f"--env SLUICE__FLOW_RUN_ID={FLOW_RUN_ID} --volume /data:/data:ro "
        "--add-host host.docker.internal:host-gateway --memory 512m --memory-swap 1g --privileged "
        "--pull=always registry.example/flows:3 python -m sluice.engine"
    )


def test_preview_with_host_networking_keeps_the_loopback_url() -> None:
    block = DockerContainer(network_mode="host", auto_remove=True).prepare_for_flow_run(
        FLOW_RUN_ID, api_url="http://127.0.0.1:4200/api"
    )
    preview = block.preview()
    assert preview.startswith("docker run --detach --rm ")
    assert "--network host" in preview
    assert "SLUICE_API_URL=http://127.0.0.1:4200/api" in preview
    assert "sluice/sluice:0.1.0-python3." in preview


def test_an_invalid_volume_is_rejected_with_the_expected_form() -> None:
    with pytest.raises(ConfigurationError, match="must look like 'host-path:/container/path"):
        DockerContainer.from_data({"volumes": ["just-a-path"]})
