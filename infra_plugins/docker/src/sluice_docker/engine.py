"""Talking to the Docker-API engine: connecting, making sure the image is there, reaching the API.

The engine is whatever ``DOCKER_HOST`` names (Docker, or Podman's ``podman system service``).
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sluice.infrastructure import InfrastructureNotAvailable

if TYPE_CHECKING:  # pragma: no cover
    import docker

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The name a container uses for its host, on Docker (Desktop, or Linux with ``host-gateway``).
DOCKER_HOST_ALIAS = "host.docker.internal"
#: The same name on Podman.
PODMAN_HOST_ALIAS = "host.containers.internal"


class ImagePullPolicy(StrEnum):
    """When the image is pulled before the container starts."""

    ALWAYS = "ALWAYS"
    IF_NOT_PRESENT = "IF_NOT_PRESENT"
    NEVER = "NEVER"


def engine_address() -> str:
    """The engine's address for messages: ``DOCKER_HOST``, or the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default; set DOCKER_HOST to change it)"


def connect() -> docker.DockerClient:
    """A client for the engine ``DOCKER_HOST`` names; an unreachable engine is a clear error."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise InfrastructureNotAvailable(
            f"cannot reach a Docker engine at {engine_address()}: {exc}. Start Docker (or "
            "`podman system service`) or point DOCKER_HOST at a running engine"
        ) from None
    return client


def is_podman(client: docker.DockerClient) -> bool:
    """True when the engine is Podman's Docker-compatible service."""
    components = client.version().get("Components") or []
    return any("podman" in str(component.get("Name", "")).lower() for component in components)


def ensure_image(client: docker.DockerClient, image: str, policy: ImagePullPolicy) -> None:
    """Pull ``image`` as ``policy`` asks; an image that is neither present nor pullable is one clear error."""
    from docker.errors import APIError, ImageNotFound

    if policy is not ImagePullPolicy.ALWAYS:
        try:
            client.images.get(image)
            return
        except ImageNotFound:
            if policy is ImagePullPolicy.NEVER:
                raise InfrastructureNotAvailable(
                    f"image {image!r} is not on the Docker engine at {engine_address()} and image_pull_policy is "
                    f"NEVER: build or load it on that engine first (`docker pull {image}` or `docker build -t "
                    f"{image} .`), or allow pulling with image_pull_policy IF_NOT_PRESENT"
                ) from None
    repository, tag = split_image(image)
    try:
        client.images.pull(repository, tag=tag)
    except APIError as exc:
        raise InfrastructureNotAvailable(
            f"image {image!r} could not be pulled by the Docker engine at {engine_address()}: "
            f"{_short(exc.explanation or str(exc))}. Check the image name and that its registry is reachable "
            f"(set image_registry for a private one), or build or load the image on that engine yourself "
            f"(`docker build -t {image} .`) and set image_pull_policy NEVER"
        ) from None


def split_image(image: str) -> tuple[str, str]:
    """``repo[:tag|@digest]`` → ``(repo, tag or digest)``; no tag means ``latest``."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    name_start = image.rfind("/") + 1
    if ":" in image[name_start:]:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def reachable_api_url(url: str, network_mode: str | None, podman: bool) -> str:
    """``url`` as a container sees it: a loopback host becomes the engine's name for the host machine.

    With ``network_mode`` ``host`` the container shares the host's network, so nothing changes.
    """
    if network_mode == "host":
        return url
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return url
    alias = PODMAN_HOST_ALIAS if podman else DOCKER_HOST_ALIAS
    netloc = alias + (f":{parts.port}" if parts.port else "")
    if parts.username:
        credentials = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{credentials}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def container_exit_code(wait_result: Any) -> int:
    """The exit code from the engine's answer to ``wait``."""
    if isinstance(wait_result, dict):
        return int(wait_result.get("StatusCode", -1))
    return int(wait_result)
