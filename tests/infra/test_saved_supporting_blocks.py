"""Supporting blocks saved once and referenced by name: a Docker registry login, a Kubernetes cluster config.

``docker-registry`` and ``kubernetes-cluster-config`` are registered by the infrastructure plugins as
supporting types; a Docker container block's ``image_registry`` and a Kubernetes Job block's
``cluster_config`` take one as ``type/name``. The parent stores the reference, never the secrets.
Everything runs in-process on the embedded API, with the isolated ``SLUICE_HOME`` of tests/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.client import get_client
from sluice.errors import ConfigurationError
from sluice.plugins import PluginManager
from sluice_docker.container import DockerContainer
from sluice_docker.registry import DockerRegistry
from sluice_kubernetes.cluster import KubernetesClusterConfig
from sluice_kubernetes.job import KubernetesJob

PASSWORD = "registry-password-value"
TOKEN = "cluster-token-value"
KUBECONFIG = {
    "apiVersion": "v1",
    "clusters": [{"name": "prod", "cluster": {"server": "https://k8s.example:6443"}}],
    "users": [{"name": "robot", "user": {"token": TOKEN}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "robot"}}],
    "current-context": "prod",
}


def sluice(*args: str, env: dict[str, str] | None = None) -> Any:
    """Run the CLI in-process; returns the click Result (stdout and stderr kept apart)."""
    return CliRunner().invoke(build_app(), list(args), env=env, catch_exceptions=False)


def assert_one_line_error(result: Any, message: str) -> None:
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def save_registry(name: str = "prod") -> None:
    DockerRegistry(username="robot", password=SecretStr(PASSWORD), registry_url="ghcr.io").save(name)


def save_cluster(name: str = "prod") -> None:
    KubernetesClusterConfig(config=KUBECONFIG, context_name="prod").save(name)


def saved_names() -> list[str]:
    with get_client() as client:
        return sorted(f"{doc.block_type_slug}/{doc.name}" for doc in client.filter_block_documents())


def stored_row(block_type: str, name: str) -> dict[str, Any]:
    """The block_document row as the database holds it."""
    from sluice.server.database.engine import get_database
    from sluice.settings import get_settings

    query = text(
        "SELECT block_document.* FROM block_document JOIN block_type ON block_type.id = block_document.block_type_id "
        "WHERE block_type.slug = :slug AND block_document.name = :name"
    )
    with get_database(get_settings().effective_database_url).engine.connect() as connection:
        row = connection.execute(query, {"slug": block_type, "name": name}).mappings().one()
    return {key: str(value) for key, value in row.items()}


# -- registration ----------------------------------------------------------------------------------


def test_entry_points_register_the_registry_and_cluster_config_as_supporting_types() -> None:
    manager = PluginManager()
    entries = {entry.slug: entry for entry in manager.registry("supporting").entries()}

    assert entries["docker-registry"].cls is DockerRegistry
    assert entries["docker-registry"].distribution == "sluice-docker"
    assert entries["kubernetes-cluster-config"].cls is KubernetesClusterConfig
    assert entries["kubernetes-cluster-config"].distribution == "sluice-kubernetes"
    assert "docker-registry" not in manager.registry("infrastructure")


def test_block_type_ls_lists_both_supporting_types_with_their_package() -> None:
    result = sluice("block", "type", "ls", "--json")
    assert result.exit_code == 0, result.stderr
    types = {row["slug"]: row for row in json.loads(result.stdout)}
    assert types["docker-registry"]["kind"] == "supporting"
    assert types["docker-registry"]["distribution"] == "sluice-docker"
    assert types["docker-registry"]["secret_fields"] == ["password"]
    assert types["kubernetes-cluster-config"]["kind"] == "supporting"
    assert types["kubernetes-cluster-config"]["distribution"] == "sluice-kubernetes"
    assert types["kubernetes-cluster-config"]["secret_fields"] == ["config"]


# -- create, inspect, load, delete -----------------------------------------------------------------


def test_a_docker_registry_is_created_inspected_masked_and_loaded_with_its_password() -> None:
    created = sluice(
        "block", "create", "docker-registry", "prod", "--set", "username=robot", "--set", "registry_url=ghcr.io",
        "--set-env", "password=REGISTRY_PASSWORD", env={"REGISTRY_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    inspected = sluice("block", "inspect", "docker-registry/prod", "--json")
    assert inspected.exit_code == 0, inspected.stderr
    assert json.loads(inspected.stdout)["data"] == {
        "username": "robot",
        "registry_url": "ghcr.io",
        "password": "********",
    }
    assert PASSWORD not in created.stdout + inspected.stdout
    loaded = DockerRegistry.load("prod")
    assert loaded.password.get_secret_value() == PASSWORD and loaded.registry_url == "ghcr.io"
    assert PASSWORD not in json.dumps(stored_row("docker-registry", "prod"))


def test_a_kubernetes_cluster_config_is_created_inspected_masked_and_loaded(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))  # the file's text, as `"$(cat ~/.kube/config)"` gives it
    created = sluice(
        "block", "create", "kubernetes-cluster-config", "prod", "--set", "context_name=prod",
        "--set-env", "config=KUBECONFIG_JSON", env={"KUBECONFIG_JSON": kubeconfig.read_text()},
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    inspected = sluice("block", "inspect", "kubernetes-cluster-config/prod", "--json")
    assert inspected.exit_code == 0, inspected.stderr
    assert json.loads(inspected.stdout)["data"]["config"] == "********"
    assert TOKEN not in inspected.stdout
    assert KubernetesClusterConfig.load("prod").config == KUBECONFIG
    assert TOKEN not in json.dumps(stored_row("kubernetes-cluster-config", "prod"))


def test_supporting_blocks_are_listed_and_deleted_like_any_block() -> None:
    save_registry()
    save_cluster()
    listed = sluice("block", "ls", "--json")
    assert {row["slug"] for row in json.loads(listed.stdout)} == {
        "docker-registry/prod",
        "kubernetes-cluster-config/prod",
    }
    deleted = sluice("block", "delete", "docker-registry/prod")
    assert deleted.exit_code == 0, deleted.stderr
    assert saved_names() == ["kubernetes-cluster-config/prod"]


def test_an_uninstalled_supporting_type_says_what_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluice.plugins import use_plugin_manager

    with use_plugin_manager(PluginManager(allow="sluice-process")):
        result = sluice("block", "create", "docker-registry", "prod", "--set", "username=robot")
    assert_one_line_error(
        result,
        "Unknown block type 'docker-registry': no installed plugin provides it; install a plugin that provides it "
        "(installed: process; see `sluice plugins ls`).",
    )


# -- referencing a saved one -----------------------------------------------------------------------


def test_a_container_references_a_saved_registry_by_name_from_python() -> None:
    save_registry()
    DockerContainer(image="flows:1", image_registry="docker-registry/prod").save("web")

    loaded = DockerContainer.load("web")
    assert isinstance(loaded.image_registry, DockerRegistry)
    assert loaded.image_registry.password.get_secret_value() == PASSWORD
    assert loaded.image_registry.document_name == "prod"


def test_a_loaded_registry_given_to_a_container_is_saved_as_a_reference_not_a_copy() -> None:
    save_registry()
    DockerContainer(image_registry=DockerRegistry.load("prod")).save("web")
    with get_client() as client:
        document = client.read_block_document_by_name("docker-container", "web", include_secrets=True)
    assert document.data["image_registry"] == "docker-registry/prod"


def test_the_registry_password_is_never_in_the_container_document_or_its_answers() -> None:
    save_registry()
    DockerContainer(image_registry="docker-registry/prod").save("web")

    row = stored_row("docker-container", "web")
    assert PASSWORD not in json.dumps(row)
    assert json.loads(row["data"])["image_registry"] == "docker-registry/prod"
    inspected = sluice("block", "inspect", "docker-container/web", "--json")
    assert json.loads(inspected.stdout)["data"]["image_registry"] == "docker-registry/prod"
    assert PASSWORD not in inspected.stdout
    assert DockerContainer.load("web").data()["image_registry"] == "docker-registry/prod"


def test_a_changed_registry_is_seen_by_the_containers_that_reference_it() -> None:
    save_registry()
    DockerContainer(image_registry="docker-registry/prod").save("web")
    DockerRegistry(username="robot", password=SecretStr("rotated"), registry_url="ghcr.io").save("prod", overwrite=True)
    registry = DockerContainer.load("web").registry()
    assert registry is not None and registry.password.get_secret_value() == "rotated"


def test_a_job_references_a_saved_cluster_config_by_name_from_python() -> None:
    save_cluster()
    KubernetesJob(namespace="flows", cluster_config="kubernetes-cluster-config/prod").save("batch")

    row = stored_row("kubernetes-job", "batch")
    assert TOKEN not in json.dumps(row)
    assert json.loads(row["data"])["cluster_config"] == "kubernetes-cluster-config/prod"
    cluster = KubernetesJob.load("batch").cluster()
    assert cluster is not None and cluster.config == KUBECONFIG and cluster.context_name == "prod"


def test_a_container_references_a_saved_registry_from_block_create_set() -> None:
    save_registry()
    created = sluice("block", "create", "docker-container", "web", "--set", "image_registry=docker-registry/prod")
    assert created.exit_code == 0, created.stderr
    registry = DockerContainer.load("web").image_registry
    assert isinstance(registry, DockerRegistry) and registry.password.get_secret_value() == PASSWORD


def test_a_job_references_a_saved_cluster_config_from_block_create_set() -> None:
    save_cluster()
    created = sluice(
        "block", "create", "kubernetes-job", "batch", "--set", "cluster_config=kubernetes-cluster-config/prod"
    )
    assert created.exit_code == 0, created.stderr
    cluster = KubernetesJob.load("batch").cluster()
    assert cluster is not None and cluster.config == KUBECONFIG


def test_an_override_references_a_saved_registry() -> None:
    save_registry()
    overridden = DockerContainer(image="flows:1").with_overrides({"image_registry": "docker-registry/prod"})
    assert isinstance(overridden.image_registry, DockerRegistry)
    assert overridden.image_registry.password.get_secret_value() == PASSWORD


def test_an_override_of_a_field_of_a_referenced_registry_changes_a_copy() -> None:
    save_registry()
    DockerContainer(image_registry="docker-registry/prod").save("web")
    overridden = DockerContainer.load("web").with_overrides({"image_registry.username": "other"})
    assert isinstance(overridden.image_registry, DockerRegistry)
    assert overridden.image_registry.username == "other"
    assert overridden.image_registry.password.get_secret_value() == PASSWORD
    assert DockerRegistry.load("prod").username == "robot"


def test_an_override_of_a_field_of_an_unloaded_reference_loads_it_first() -> None:
    save_registry()
    overridden = DockerContainer(image_registry="docker-registry/prod").with_overrides({"image_registry.username": "x"})
    assert isinstance(overridden.image_registry, DockerRegistry)
    assert (overridden.image_registry.username, overridden.image_registry.registry_url) == ("x", "ghcr.io")


def test_a_deployment_file_references_a_saved_registry_and_the_agent_gets_its_login(tmp_path: Path) -> None:
    from sluice.agent_infrastructure import load_infrastructure

    save_registry()
    path = tmp_path / "deployment.yaml"
    path.write_text(
        "name: web\nflow_name: say-hi\n"
        "infrastructure:\n  type: docker-container\n  image: flows:1\n  image_registry: docker-registry/prod\n"
    )
    applied = sluice("deployment", "apply", str(path))
    assert applied.exit_code == 0, applied.stderr

    with get_client() as client:
        deployment = client.read_deployment_by_name("say-hi/web")
        assert deployment.infrastructure["image_registry"] == "docker-registry/prod"
        block = load_infrastructure(client, deployment)
    assert isinstance(block, DockerContainer) and block.registry() is not None
    assert block.registry().password.get_secret_value() == PASSWORD  # type: ignore[union-attr]


def test_a_deployment_override_references_a_saved_registry_when_the_agent_loads_it(tmp_path: Path) -> None:
    from sluice.agent_infrastructure import load_infrastructure

    save_registry()
    path = tmp_path / "deployment.yaml"
    path.write_text(
        "name: web\nflow_name: say-hi\ninfrastructure:\n  type: docker-container\n"
        "infra_overrides:\n  image_registry: docker-registry/prod\n"
    )
    assert sluice("deployment", "apply", str(path)).exit_code == 0
    with get_client() as client:
        block = load_infrastructure(client, client.read_deployment_by_name("say-hi/web"))
    registry = block.registry()  # type: ignore[attr-defined]
    assert registry is not None and registry.password.get_secret_value() == PASSWORD


# -- wrong references ------------------------------------------------------------------------------


def test_block_create_with_a_missing_reference_is_one_line_and_saves_nothing() -> None:
    result = sluice("block", "create", "docker-container", "web", "--set", "image_registry=docker-registry/nowhere")
    assert_one_line_error(result, "image_registry: no saved block docker-registry/nowhere; create it with")
    assert "sluice block create docker-registry nowhere" in result.stderr
    assert saved_names() == []


def test_block_create_with_a_reference_to_the_wrong_type_is_one_line_and_saves_nothing() -> None:
    save_registry()
    result = sluice("block", "create", "kubernetes-job", "batch", "--set", "cluster_config=docker-registry/prod")
    assert_one_line_error(
        result, "'docker-registry/prod' names a docker-registry block; this field takes a kubernetes-cluster-config"
    )
    assert saved_names() == ["docker-registry/prod"]


def test_saving_from_python_with_a_missing_reference_saves_nothing() -> None:
    with pytest.raises(ConfigurationError, match=r"no saved block kubernetes-cluster-config/nowhere"):
        KubernetesJob(cluster_config="kubernetes-cluster-config/nowhere").save("batch")
    assert saved_names() == []


def test_a_reference_to_the_wrong_type_is_refused_from_python() -> None:
    with pytest.raises(ValueError, match=r"'s3/prod' names a s3 block; this field takes a docker-registry block"):
        DockerContainer(image_registry="s3/prod")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("docker-registry/nowhere", "image_registry: no saved block docker-registry/nowhere"),
        ("s3/prod", "'s3/prod' names a s3 block; this field takes a docker-registry block"),
    ],
)
def test_a_deployment_file_with_a_bad_reference_is_one_line_and_applies_nothing(
    tmp_path: Path, reference: str, message: str
) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text(
        f"name: web\nflow_name: say-hi\ninfrastructure:\n  type: docker-container\n  image_registry: {reference}\n"
    )
    assert_one_line_error(sluice("deployment", "apply", str(path)), message)
    assert json.loads(sluice("deployment", "ls", "--json").stdout) == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("docker-registry/nowhere", "image_registry: no saved block docker-registry/nowhere"),
        ("s3/prod", "'s3/prod' names a s3 block; this field takes a docker-registry block"),
    ],
)
def test_an_override_with_a_bad_reference_is_a_one_line_error(reference: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        DockerContainer().with_overrides({"image_registry": reference})
    assert "\n" not in str(caught.value)


def test_a_deleted_registry_makes_loading_a_container_that_references_it_a_clear_error() -> None:
    save_registry()
    DockerContainer(image_registry="docker-registry/prod").save("web")
    assert sluice("block", "delete", "docker-registry/prod").exit_code == 0
    with pytest.raises(ConfigurationError, match=r"image_registry: no saved block docker-registry/prod; create it"):
        DockerContainer.load("web")
    assert sluice("block", "inspect", "docker-container/web").exit_code == 0  # still shown, to be fixed
