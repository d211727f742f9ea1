"""``DockerContainer``: run a flow run's engine in a container on a Docker-API engine."""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import field_validator

from sluice.infrastructure import (
    BlockReference,
    ConfigurationError,
    InfrastructureBlock,
    InfrastructureNotAvailable,
    InfrastructureNotFound,
    InfrastructureResult,
    default_engine_image,
    engine_command,
    looks_secret,
)
from sluice_docker.engine import (
    DOCKER_HOST_ALIAS,
    ImagePullPolicy,
    connect,
    container_exit_code,
    engine_address,
    ensure_image,
    is_podman,
    reachable_api_url,
)
from sluice_docker.registry import DockerRegistry

if TYPE_CHECKING:  # pragma: no cover
    import docker
    from docker.models.containers import Container

__all__ = ["DockerContainer", "DockerRegistry", "ImagePullPolicy"]

logger = logging.getLogger("sluice.infrastructure.docker")

_NAME_ATTEMPTS = 20
_PULL_FLAG = {
    ImagePullPolicy.ALWAYS: "always",
    ImagePullPolicy.IF_NOT_PRESENT: "missing",
    ImagePullPolicy.NEVER: "never",
}
_VOLUME = re.compile(r"^[^:]+:/[^:]*(:(ro|rw|z|Z|ro,z|ro,Z|rw,z|rw,Z))?$")


class DockerContainer(InfrastructureBlock):
    """Run each flow run in a container on the Docker engine that ``DOCKER_HOST`` names.

    The image defaults to the one matching the agent's Python and Sluice versions
    (``sluice/sluice:0.1.0-python3.11``). An API URL on the agent's loopback is rewritten to the name
    containers use for their host, unless ``network_mode`` is ``host``. The identifier is the
    container id; ``kill`` stops the container and removes it.
    """

    block_type_slug: ClassVar[str] = "docker-container"
    block_type_name: ClassVar[str | None] = "Docker Container"

    #: The image with Python and Sluice; default: ``sluice/sluice:<sluice version>-python<X.Y>`` of the agent.
    image: str | None = None
    #: When to pull; unset means IF_NOT_PRESENT.
    image_pull_policy: ImagePullPolicy | None = None
    #: Credentials for a private registry, used before pulling: a ``DockerRegistry`` or a saved one,
    #: ``"docker-registry/<name>"`` (stored as that reference, loaded when the block is loaded or run).
    image_registry: Annotated[DockerRegistry | str | None, BlockReference(DockerRegistry)] = None
    #: Bind mounts, ``host-path:container-path[:ro|rw]``.
    volumes: list[str] = []
    #: Networks to connect the container to, besides its default one.
    networks: list[str] = []
    #: ``host``, ``none``, ``bridge``, ``container:<id>``…; unset: the engine's default.
    network_mode: str | None = None
    #: Remove the container once it has ended and its exit code was read.
    auto_remove: bool = False
    #: Memory limit: bytes, or a string like ``512m`` / ``2g``.
    mem_limit: int | str | None = None
    #: Memory plus swap limit, same units; -1 for unlimited swap.
    memswap_limit: int | str | None = None
    privileged: bool = False

    def default_command(self) -> list[str]:
        """``python -m sluice.engine`` with the image's own interpreter (not the agent's path)."""
        return engine_command("python")

    @field_validator("volumes")
    @classmethod
    def _check_volumes(cls, volumes: list[str]) -> list[str]:
        for volume in volumes:
            if not _VOLUME.match(volume):
                raise ValueError(f"volume {volume!r} must look like 'host-path:/container/path[:ro|rw]'")
        return volumes

    # -- what would run --------------------------------------------------------------------------

    def container_image(self) -> str:
        """The image to run: ``image`` or the default matching the agent."""
        return self.image or default_engine_image()

    def container_environment(self, podman: bool = False) -> dict[str, str]:
        """The container's environment: ``env`` without removed keys, the API URL made reachable."""
        environment = {key: value for key, value in self.env.items() if value is not None}
        if "SLUICE_API_URL" in environment:
            environment["SLUICE_API_URL"] = reachable_api_url(environment["SLUICE_API_URL"], self.network_mode, podman)
        return environment

    def container_name(self) -> str | None:
        """``name`` made valid for the engine (``[a-zA-Z0-9][a-zA-Z0-9_.-]*``), or None to let it choose."""
        if not self.name:
            return None
        cleaned = re.sub(r"[^a-zA-Z0-9_.-]+", "-", self.name).lstrip("_.-")
        return cleaned[:128] or None

    def preview(self) -> str:
        """The equivalent ``docker run`` command line, secret-looking values masked."""
        arguments = ["docker", "run", "--detach"]
        if self.auto_remove:
            arguments.append("--rm")
        if self.container_name():
            arguments += ["--name", str(self.container_name())]
        for key, value in sorted(self.labels.items()):
            arguments += ["--label", f"{key}={value}"]
        for key, value in sorted(self.container_environment().items()):
            shown = "********" if looks_secret(key) else value
            arguments += ["--env", f"{key}={shown}"]
        for volume in self.volumes:
            arguments += ["--volume", volume]
        if self.network_mode:
            arguments += ["--network", self.network_mode]
        elif self.api_url_rewritten():
            arguments += ["--add-host", f"{DOCKER_HOST_ALIAS}:host-gateway"]
        for network in self.networks:
            arguments += ["--network", network]
        if self.mem_limit is not None:
            arguments += ["--memory", str(self.mem_limit)]
        if self.memswap_limit is not None:
            arguments += ["--memory-swap", str(self.memswap_limit)]
        if self.privileged:
            arguments.append("--privileged")
        policy = self.image_pull_policy or ImagePullPolicy.IF_NOT_PRESENT
        arguments.append(f"--pull={_PULL_FLAG[policy]}")
        arguments.append(self.container_image())
        arguments += self.command or self.default_command()
        return shlex.join(arguments)

    def api_url_rewritten(self) -> bool:
        """True when the container would reach the API through the host alias rather than loopback."""
        url = self.env.get("SLUICE_API_URL")
        return bool(url) and reachable_api_url(str(url), self.network_mode, podman=False) != url

    def registry(self) -> DockerRegistry | None:
        """The registry login to use: ``image_registry``, loaded from the API when it names a saved one."""
        registry = self.resolved().image_registry
        return registry if isinstance(registry, DockerRegistry) else None

    # -- running ---------------------------------------------------------------------------------

    def run(self, on_started: Callable[[str], None] | None = None) -> InfrastructureResult:
        """Pull the image as the policy says, start the container, stream its output, return its exit code."""
        from docker.errors import APIError, NotFound

        registry = self.registry()  # a missing saved registry fails here, before the engine is asked anything
        client = connect()
        try:
            if registry is not None:
                registry.login(client)
            image = self.container_image()
            ensure_image(client, image, self.image_pull_policy or ImagePullPolicy.IF_NOT_PRESENT)
            container = self._create(client, image, podman=is_podman(client))
            try:
                try:
                    container.start()
                except APIError as exc:
                    _remove_quietly(container)
                    raise InfrastructureNotAvailable(
                        f"the container for image {image!r} could not start: {exc.explanation or exc}; "
                        "check the command, the volumes and that the image contains Python and Sluice"
                    ) from None
                if on_started is not None:
                    on_started(container.id)
                if self.stream_output:
                    for line in _lines(container.logs(stream=True, follow=True)):
                        self.write_output(line)
                try:
                    status_code = container_exit_code(container.wait())
                except NotFound:  # killed and removed while we waited
                    status_code = -1
            finally:
                if self.auto_remove:
                    _remove_quietly(container)
            return InfrastructureResult(identifier=container.id, status_code=status_code)
        finally:
            client.close()

    def _create(self, client: docker.DockerClient, image: str, podman: bool) -> Container:
        from docker.errors import APIError

        options: dict[str, Any] = {
            "command": self.command or self.default_command(),
            "environment": self.container_environment(podman),
            "labels": dict(self.labels),
            "volumes": list(self.volumes),
            "privileged": self.privileged,
            "detach": True,
        }
        if self.network_mode:
            options["network_mode"] = self.network_mode
        elif not podman and self.api_url_rewritten():
            # Docker on Linux knows host.docker.internal only when asked; Podman always knows its alias.
            options["extra_hosts"] = {DOCKER_HOST_ALIAS: "host-gateway"}
        if self.mem_limit is not None:
            options["mem_limit"] = self.mem_limit
        if self.memswap_limit is not None:
            options["memswap_limit"] = self.memswap_limit
        base_name = self.container_name()
        for attempt in range(_NAME_ATTEMPTS):
            name = None if base_name is None else base_name if attempt == 0 else f"{base_name}-{attempt}"
            try:
                container = client.containers.create(image, name=name, **options)
                break
            except APIError as exc:
                # Docker answers 409 to a taken name; Podman 500 with "already in use".
                taken = exc.status_code == 409 or "already in use" in str(exc.explanation or "")
                if taken and name is not None:
                    continue  # a container of that name exists (an earlier run): try the next suffix
                raise ConfigurationError(
                    f"the Docker engine at {engine_address()} refused to create the container: {exc.explanation or exc}"
                ) from None
        else:
            raise ConfigurationError(f"no free container name like {base_name!r}: remove old containers")
        for network in self.networks:
            client.networks.get(network).connect(container)
        return container

    # -- killing ---------------------------------------------------------------------------------

    def kill(self, identifier: str, grace_seconds: float = 30) -> None:
        """Stop the container (SIGTERM, then SIGKILL after ``grace_seconds``) and remove it."""
        from docker.errors import NotFound

        client = connect()
        try:
            try:
                container = client.containers.get(identifier)
            except NotFound:
                raise InfrastructureNotFound(
                    f"container {identifier!r} not found on the Docker engine at {engine_address()}"
                ) from None
            container.stop(timeout=max(0, int(grace_seconds)))
            _remove_quietly(container)
        finally:
            client.close()


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")


def _remove_quietly(container: Container) -> None:
    from docker.errors import APIError, NotFound

    try:
        container.remove(force=True)
    except NotFound:
        pass
    except APIError as exc:  # removal is tidying up: report it, don't fail the run for it
        logger.warning("could not remove container %s: %s", container.id, exc)
