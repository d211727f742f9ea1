"""The three first-party infrastructure plugins as installed: discovery, lookup by class name, overrides."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr

from sluice.errors import ConfigurationError, UnknownSlugError
from sluice.plugins import PluginManager, use_plugin_manager
from sluice_docker.container import DockerContainer, DockerRegistry
from sluice_kubernetes.job import KubernetesJob
from sluice_process.process import Process


def test_entry_points_register_the_three_infrastructure_types() -> None:
    registry = PluginManager().registry("infrastructure")
    entries = {entry.slug: entry for entry in registry.entries()}

    assert entries["process"].cls is Process
    assert entries["process"].distribution == "sluice-process"
    assert entries["docker-container"].cls is DockerContainer
    assert entries["docker-container"].distribution == "sluice-docker"
    assert entries["kubernetes-job"].cls is KubernetesJob
    assert entries["kubernetes-job"].distribution == "sluice-kubernetes"


def test_an_uninstalled_slug_says_what_is_installed_without_inventing_a_package() -> None:
    manager = PluginManager(allow="sluice-process")
    with pytest.raises(UnknownSlugError) as caught:
        manager.registry("infrastructure").get("docker-container")
    message = str(caught.value)
    assert "Unknown infrastructure block type 'docker-container'" in message
    assert "install a plugin that provides it" in message and "pip install" not in message
    assert "installed: process; see `sluice plugins ls`" in message


def test_block_classes_are_importable_from_sluice_infrastructure() -> None:
    with use_plugin_manager(PluginManager()):
        from sluice.infrastructure import DockerContainer as Imported
        from sluice.infrastructure import DockerRegistry as ImportedRegistry
        from sluice.infrastructure import KubernetesClusterConfig, KubernetesJob, Process

    assert Imported is DockerContainer
    assert ImportedRegistry is DockerRegistry
    assert KubernetesJob.block_type_slug == "kubernetes-job"
    assert KubernetesClusterConfig.block_type_slug == "kubernetes-cluster-config"
    assert Process.block_type_slug == "process"


def test_an_uninstalled_class_name_says_what_is_available() -> None:
    with (
        use_plugin_manager(PluginManager(allow="sluice-process")),
        pytest.raises(
            ImportError,
            match=r"class 'DockerContainer' is installed \(available: Process\); install a plugin that provides it",
        ),
    ):
        from sluice.infrastructure import DockerContainer  # noqa: F401


def test_importing_the_plugins_does_not_import_their_sdks() -> None:
    code = (
        "import sys, sluice_docker.container, sluice_kubernetes.job, sluice_process.process; "
        "print(sorted(m for m in ('docker', 'kubernetes') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


# -- overrides -----------------------------------------------------------------------------------


def test_process_overrides_reach_every_field() -> None:
    block = Process(env={"KEEP": "1"}).with_overrides(
        {
            "env.EXTRA": "2",
            "env.KEEP": None,
            "working_dir": "/srv",
            "command": '["python", "-V"]',
            "labels.team": "data",
            "name": "custom",
            "stream_output": False,
        }
    )
    assert block.env == {"KEEP": None, "EXTRA": "2"}
    assert block.working_dir == "/srv"
    assert block.command == ["python", "-V"]
    assert block.labels == {"team": "data"}
    assert block.name == "custom"
    assert block.stream_output is False


def test_docker_overrides_reach_every_field_and_keep_nested_secrets() -> None:
    block = DockerContainer(
        image_registry=DockerRegistry(username="bot", password=SecretStr("hunter2"), registry_url="ghcr.io")
    ).with_overrides(
        {
            "image": "registry.example/flows:4",
            "image_pull_policy": "ALWAYS",
            "image_registry.username": "robot",
            "env.EXTRA": "1",
            "volumes": '["/data:/data:ro"]',
            "networks": '["backend"]',
            "network_mode": "host",
            "auto_remove": True,
            "mem_limit": "1g",
            "memswap_limit": "2g",
            "privileged": True,
            "labels.team": "data",
        }
    )
    assert block.image == "registry.example/flows:4"
    assert block.image_pull_policy == "ALWAYS"
    assert block.image_registry is not None
    assert block.image_registry.username == "robot"
    assert block.image_registry.password.get_secret_value() == "hunter2"
    assert block.env == {"EXTRA": "1"}
    assert block.volumes == ["/data:/data:ro"]
    assert block.networks == ["backend"]
    assert (block.network_mode, block.auto_remove, block.privileged) == ("host", True, True)
    assert (block.mem_limit, block.memswap_limit) == ("1g", "2g")
    assert block.labels == {"team": "data"}


def test_nested_secrets_are_masked_in_data_and_shown_on_request() -> None:
    block = DockerContainer(
        image_registry=DockerRegistry(username="bot", password=SecretStr("hunter2"), registry_url="ghcr.io")
    )
    assert block.data()["image_registry"]["password"] == "********"
    assert block.data(include_secrets=True)["image_registry"]["password"] == "hunter2"


def test_kubernetes_overrides_reach_nested_fields() -> None:
    block = KubernetesJob().with_overrides(
        {
            "cluster_config": '{"config": {"clusters": []}, "context_name": "prod"}',
            "service_account_name": "runner",
            "finished_job_ttl": 60,
            "job_watch_timeout_seconds": 600,
            "job.metadata.annotations.team": "data",
        }
    )
    assert block.cluster_config is not None and block.cluster_config.context_name == "prod"
    assert block.service_account_name == "runner"
    assert (block.finished_job_ttl, block.job_watch_timeout_seconds) == (60, 600)
    assert block.job["metadata"]["annotations"] == {"team": "data"}
    assert block.job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize(
    ("block", "slug"),
    [(Process(), "process"), (DockerContainer(), "docker-container"), (KubernetesJob(), "kubernetes-job")],
)
def test_an_override_of_a_field_that_does_not_exist_names_it(block: Process, slug: str) -> None:
    with pytest.raises(ConfigurationError, match=f"override 'enviroment.X': {slug} blocks have no field 'enviroment'"):
        block.with_overrides({"enviroment.X": "1"})


def test_an_invalid_override_value_names_the_field() -> None:
    with pytest.raises(ConfigurationError, match="invalid override for the docker-container block: image_pull_policy"):
        DockerContainer().with_overrides({"image_pull_policy": "SOMETIMES"})
    with pytest.raises(ConfigurationError, match=r"image_registry\.colour: Extra inputs are not permitted"):
        DockerContainer().with_overrides({"image_registry.colour": "blue"})
