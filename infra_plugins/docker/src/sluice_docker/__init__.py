"""The 'docker-container' infrastructure type for Sluice (distribution `sluice-docker`), with the
'docker-registry' block a container block logs in with."""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_infrastructure_blocks(register: Register) -> None:
    """Register ``DockerContainer`` ('docker-container') and the supporting ``DockerRegistry`` ('docker-registry')."""
    from sluice_docker.container import DockerContainer
    from sluice_docker.registry import DockerRegistry

    register(DockerContainer)
    register(DockerRegistry)  # a plain Block: listed as a supporting type, saved once and referenced by name
