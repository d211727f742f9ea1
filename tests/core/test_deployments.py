"""The Python API of deployments: build_from_flow, apply, load, run_deployment, and the engine."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sluice.client import get_client
from sluice.deployments import Deployment, run_deployment
from sluice.errors import ConfigurationError, ObjectNotFound, ParameterError
from sluice.flows import load_flow_from_entrypoint

FLOWS = '''from sluice import flow, get_run_logger


@flow(retries=1)
def say_hi(name: str = "Marvin", times: int = 1):
    """Say hi."""
    get_run_logger().info(f"Hello {name} x{times}!")
    return name


@flow
def fails():
    raise ValueError("nope")
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(FLOWS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def the_flow(name: str = "say_hi") -> Any:
    return load_flow_from_entrypoint(f"flows/marvin.py:{name}")


def test_build_from_flow_computes_entrypoint_schema_and_version(project: Path) -> None:
    deployment = Deployment.build_from_flow(the_flow(), name="marvin", work_queue_name="test", tags=["x"])
    assert deployment.flow_name == "say-hi"
    assert deployment.entrypoint == "flows/marvin.py:say_hi"
    assert deployment.path == str(project.resolve())
    assert deployment.version and len(deployment.version) == 32
    assert deployment.parameter_openapi_schema["properties"]["times"]["type"] == "integer"
    assert deployment.description == "Say hi."


def test_build_from_flow_validates_parameters_first(project: Path) -> None:
    with pytest.raises(ParameterError, match="parameter 'times'"):
        Deployment.build_from_flow(the_flow(), name="marvin", parameters={"times": "many"})
    deployment = Deployment.build_from_flow(the_flow(), name="marvin", parameters={"times": "2"})
    assert deployment.parameters == {"times": 2}


@pytest.mark.parametrize(("given", "stored"), [(1, "1"), (2.5, "2.5"), (0, "0"), ("v1", "v1")])
def test_build_from_flow_keeps_a_numeric_version_as_text(project: Path, given: Any, stored: str) -> None:
    deployment = Deployment.build_from_flow(the_flow(), name="marvin", version=given, apply=True)
    assert deployment.version == stored
    with get_client() as client:
        assert client.read_deployment_by_name("say-hi/marvin").version == stored


def test_a_boolean_version_is_refused(project: Path) -> None:
    with pytest.raises(ConfigurationError, match="version: Input should be a valid string"):
        Deployment.build_from_flow(the_flow(), name="marvin", version=True)  # type: ignore[arg-type]


def test_build_from_flow_takes_infra_overrides_as_a_list_of_key_value_strings(project: Path) -> None:
    listed = Deployment.build_from_flow(
        the_flow(), name="marvin", infra_overrides=["env.SOME_IMPORTANT_CONFIG=true", "env.URL=http://x/?a=b"]
    )
    mapped = Deployment.build_from_flow(
        the_flow(), name="marvin", infra_overrides={"env.SOME_IMPORTANT_CONFIG": "true", "env.URL": "http://x/?a=b"}
    )
    assert (
        listed.infra_overrides
        == mapped.infra_overrides
        == {
            "env.SOME_IMPORTANT_CONFIG": "true",
            "env.URL": "http://x/?a=b",
        }
    )
    listed.apply()
    with get_client() as client:
        assert client.read_deployment_by_name("say-hi/marvin").infra_overrides == mapped.infra_overrides


@pytest.mark.parametrize("item", ["SOME_IMPORTANT_CONFIG", "=true", 42])
def test_a_malformed_infra_override_item_is_a_one_line_error(project: Path, item: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Deployment.build_from_flow(the_flow(), name="marvin", infra_overrides=["env.A=1", item])
    message = str(caught.value)
    assert message == f"infra_overrides: {item!r} is not a 'KEY=VALUE' string such as 'env.LOG_LEVEL=DEBUG'"


def test_the_list_form_of_infra_overrides_is_accepted_everywhere_a_deployment_is_made(project: Path) -> None:
    deployment = Deployment(name="marvin", flow_name="say-hi", infra_overrides=["env.A=1"])
    assert deployment.infra_overrides == {"env.A": "1"}
    deployment.infra_overrides = ["env.B=2"]  # type: ignore[assignment]
    assert deployment.infra_overrides == {"env.B": "2"}
    (project / "d.yaml").write_text("name: m\nflow_name: say-hi\ninfra_overrides:\n- env.C=3\n- image=x\n")
    assert Deployment.from_yaml(project / "d.yaml").infra_overrides == {"env.C": "3", "image": "x"}
    (project / "bad.yaml").write_text("name: m\nflow_name: say-hi\ninfra_overrides:\n- nope\n")
    with pytest.raises(ConfigurationError, match=r"bad.yaml: infra_overrides: 'nope' is not a 'KEY=VALUE' string"):
        Deployment.from_yaml(project / "bad.yaml")


def test_build_from_flow_with_apply_creates_it(project: Path) -> None:
    Deployment.build_from_flow(the_flow(), name="marvin", work_queue_name="test", apply=True)
    with get_client() as client:
        remote = client.read_deployment_by_name("say-hi/marvin")
    assert remote.work_queue_name == "test"
    assert remote.infrastructure["type"] == "process"


def test_to_yaml_and_from_yaml_round_trip(project: Path) -> None:
    deployment = Deployment.build_from_flow(the_flow(), name="marvin", schedule={"type": "interval", "interval": 60})
    deployment.to_yaml(project / "d.yaml")
    again = Deployment.from_yaml(project / "d.yaml")
    assert again.to_data() == deployment.to_data()


def test_load_of_a_missing_deployment_returns_false_and_changes_nothing(project: Path) -> None:
    deployment = Deployment(name="nope", flow_name="say-hi", tags=["mine"])
    assert deployment.load() is False
    assert deployment.tags == ["mine"] and deployment.work_queue_name is None
    assert deployment.explicit_fields() == {"name", "flow_name", "tags"}


def test_load_of_an_existing_deployment_returns_true(project: Path) -> None:
    Deployment.build_from_flow(the_flow(), name="marvin", work_queue_name="test", apply=True)
    deployment = Deployment(name="marvin", flow_name="say-hi")
    assert deployment.load() is True
    assert deployment.work_queue_name == "test"


def test_load_without_a_flow_name_is_an_error(project: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"Deployment.load\(\) needs flow_name and name"):
        Deployment(name="marvin").load()


def test_load_keeps_fields_given_to_the_constructor(project: Path) -> None:
    Deployment.build_from_flow(the_flow(), name="marvin", work_queue_name="test", tags=["a"], apply=True)
    deployment = Deployment(name="marvin", flow_name="say-hi", tags=["mine"])
    assert deployment.load() is True
    assert deployment.tags == ["mine"] and deployment.work_queue_name == "test"
    assert deployment.explicit_fields() == {"name", "flow_name", "tags"}


def test_a_saved_infrastructure_block_is_referenced(project: Path) -> None:
    from sluice.plugins import get_registry

    process = get_registry("infrastructure").get("process")
    process(env={"GREETING": "hi"}).save("local")
    deployment = Deployment.build_from_flow(the_flow(), name="marvin", infrastructure=process.load("local"))
    deployment.apply()
    with get_client() as client:
        remote = client.read_deployment_by_name("say-hi/marvin")
    assert remote.infrastructure_document_id is not None
    assert deployment.to_data()["infrastructure"]["_block_document_name"] == "local"


def test_an_unsaved_storage_block_cannot_be_applied(project: Path, tmp_path_factory: Any) -> None:
    from sluice.filesystems import LocalFileSystem

    storage = LocalFileSystem(basepath=str(tmp_path_factory.mktemp("store")))
    deployment = Deployment.build_from_flow(the_flow(), name="marvin", storage=storage, skip_upload=True)
    with pytest.raises(ConfigurationError, match="the storage block must be saved first"):
        deployment.apply()


def test_an_unsaved_infrastructure_block_holding_a_secret_cannot_be_applied(project: Path) -> None:
    from sluice_docker.container import DockerContainer
    from sluice_docker.registry import DockerRegistry

    registry = DockerRegistry(username="robot", password="registry-secret", registry_url="registry.example")
    infrastructure = DockerContainer(image="flows:1", image_registry=registry)
    deployment = Deployment.build_from_flow(the_flow(), name="marvin", infrastructure=infrastructure)
    with pytest.raises(ConfigurationError, match=r"holds the secret .image_registry\.password.: save the block first"):
        deployment.apply()
    with get_client() as client, pytest.raises(ObjectNotFound):
        client.read_deployment_by_name("say-hi/marvin")


def test_an_unsaved_infrastructure_block_without_secrets_is_applied_inline(project: Path) -> None:
    from sluice_docker.container import DockerContainer

    deployment = Deployment.build_from_flow(the_flow(), name="marvin", infrastructure=DockerContainer(image="flows:1"))
    deployment.apply()
    with get_client() as client:
        remote = client.read_deployment_by_name("say-hi/marvin")
    assert remote.infrastructure_document_id is None
    assert remote.infrastructure is not None and remote.infrastructure["image"] == "flows:1"


def executing_agent(count: int = 1) -> threading.Thread:
    """A stand-in agent: claims the first ``count`` runs it sees and executes them in this process."""
    from sluice.engine import execute_flow_run

    def work() -> None:
        done: set[Any] = set()
        deadline = time.monotonic() + 30
        with get_client() as client:
            while len(done) < count and time.monotonic() < deadline:
                for run in client.filter_flow_runs(state_types=["SCHEDULED"]):
                    if run.id not in done:
                        client.set_flow_run_state(run.id, "PENDING", force=True)
                        execute_flow_run(run.id)
                        done.add(run.id)
                time.sleep(0.05)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_run_deployment_with_a_timeout_waits_for_the_end(project: Path) -> None:
    Deployment.build_from_flow(the_flow(), name="marvin", work_queue_name="test", apply=True)
    agent = executing_agent()
    run = run_deployment("say-hi/marvin", parameters={"name": "Arthur"}, timeout=30, poll_interval=0.05)
    agent.join()
    assert run.state.type.value == "COMPLETED"
    assert run.parameters["name"] == "Arthur"


def test_run_deployment_returns_the_unfinished_run_when_the_timeout_passes(project: Path) -> None:
    Deployment.build_from_flow(the_flow(), name="marvin", work_queue_name="test", apply=True)
    run = run_deployment("say-hi/marvin", timeout=0.01, poll_interval=0.01)  # no agent: it cannot start
    assert run.state.type.value == "SCHEDULED"
    with get_client() as client:
        assert client.read_flow_run(run.id).state.type.value == "SCHEDULED"


def test_run_deployment_without_a_timeout_returns_at_once(project: Path) -> None:
    Deployment.build_from_flow(the_flow(), name="marvin", apply=True)
    run = run_deployment("say-hi/marvin", tags=["now"])
    assert run.state.type.value == "SCHEDULED"
    assert "now" in run.tags


def test_run_deployment_checks_parameters(project: Path) -> None:
    Deployment.build_from_flow(the_flow(), name="marvin", apply=True)
    with pytest.raises(ParameterError, match="unknown parameter 'colour'"):
        run_deployment("say-hi/marvin", parameters={"colour": "red"})


def test_run_deployment_takes_parameters_of_any_name_for_a_var_keyword_parameter_of_any_name(project: Path) -> None:
    (project / "flows" / "gather.py").write_text(
        "from sluice import flow\n\n\n@flow\ndef gather(**options: str):\n    pass\n"
    )
    Deployment.build_from_flow(load_flow_from_entrypoint("flows/gather.py:gather"), name="g", apply=True)
    run = run_deployment("gather/g", parameters={"colour": "red"})
    assert run.parameters == {"colour": "red"}


def test_engine_subprocess_fails_the_run_and_exits_1_when_the_flow_fails(project: Path) -> None:
    from sluice.engine import create_local_run

    Deployment.build_from_flow(the_flow("fails"), name="f", apply=True)
    run = create_local_run("fails/f")
    engine = subprocess.run(
        [sys.executable, "-m", "sluice.engine"],
        env={**os.environ, "SLUICE__FLOW_RUN_ID": str(run.id)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert engine.returncode == 1, engine.stderr
    with get_client() as client:
        state = client.read_flow_run(run.id).state
    assert state.type.value == "FAILED"
    assert state.message == "Flow run encountered an exception. ValueError: nope"


def test_engine_without_a_run_id_explains_and_exits_2() -> None:
    env = {key: value for key, value in os.environ.items() if key != "SLUICE__FLOW_RUN_ID"}
    engine = subprocess.run([sys.executable, "-m", "sluice.engine"], env=env, capture_output=True, text=True)
    assert engine.returncode == 2
    assert "set SLUICE__FLOW_RUN_ID" in engine.stderr


def test_engine_fails_a_run_whose_local_path_is_missing(project: Path) -> None:
    from sluice.engine import create_local_run, execute_flow_run

    deployment = Deployment.build_from_flow(the_flow(), name="marvin")
    deployment.path = str(project / "gone")
    deployment.apply()
    state = execute_flow_run(create_local_run("say-hi/marvin").id)
    assert state.type.value == "FAILED"
    assert "is not a folder on this machine" in state.message


def test_engine_does_not_run_a_run_that_was_finished_elsewhere(project: Path) -> None:
    from sluice.engine import create_local_run, execute_flow_run

    Deployment.build_from_flow(the_flow(), name="marvin", apply=True)
    run = create_local_run("say-hi/marvin")
    with get_client() as client:
        client.set_flow_run_state(run.id, "CANCELLED", force=True)
    state = execute_flow_run(run.id)
    assert state.type.value == "CANCELLED"
    with get_client() as client:
        assert client.read_flow_run(run.id).run_count == 0
        assert client.filter_logs(run.id) == []
