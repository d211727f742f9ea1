"""The 'docker-container' infrastructure type for Sluice (distribution `sluice-docker`)."""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_infrastructure_blocks(register: Register) -> None:
    """Register ``DockerContainer`` under the slug 'docker-container'."""
    from sluice_docker.container import DockerContainer

    register(DockerContainer)
