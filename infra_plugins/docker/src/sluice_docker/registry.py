"""``DockerRegistry``: credentials for a private image registry, used before pulling an image."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import SecretStr

from sluice.infrastructure import Block, InfrastructureNotAvailable

if TYPE_CHECKING:  # pragma: no cover
    import docker


class DockerRegistry(Block):
    """A registry login: the engine logs in with it before pulling a Docker container block's image."""

    block_type_slug: ClassVar[str] = "docker-registry"
    block_type_name: ClassVar[str | None] = "Docker Registry"

    username: str
    password: SecretStr
    #: The registry's address, e.g. ``ghcr.io`` or ``registry.example.com:5000``.
    registry_url: str

    def login(self, client: docker.DockerClient) -> None:
        """Log ``client``'s engine in to the registry; bad credentials raise ``InfrastructureNotAvailable``."""
        from docker.errors import APIError

        try:
            client.login(
                username=self.username,
                password=self.password.get_secret_value(),
                registry=self.registry_url,
                reauth=True,
            )
        except APIError as exc:
            raise InfrastructureNotAvailable(
                f"cannot log in to the registry {self.registry_url!r} as {self.username!r}: "
                f"{exc.explanation or exc}; check the image_registry credentials"
            ) from None
