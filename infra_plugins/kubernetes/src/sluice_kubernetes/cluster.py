"""Which cluster to talk to: ``KubernetesClusterConfig`` and the API client built from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import yaml
from pydantic import field_validator

from sluice.infrastructure import Block, ConfigurationError, InfrastructureNotAvailable
from sluice.storage import mask_settings

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient


class KubernetesClusterConfig(Block):
    """A kubeconfig (as a dict) and the context to use in it.

    Leave a Kubernetes Job block's ``cluster_config`` unset to use the in-cluster service account
    (an agent running in a pod), or the default kubeconfig file when not in a cluster.
    """

    block_type_slug: ClassVar[str] = "kubernetes-cluster-config"
    block_type_name: ClassVar[str | None] = "Kubernetes Cluster Config"

    #: The parsed kubeconfig file: ``clusters``, ``contexts``, ``users``… (its YAML or JSON text is parsed).
    config: dict[str, Any]
    #: The context to use; the kubeconfig's ``current-context`` when unset.
    context_name: str | None = None

    @field_validator("config", mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        # `sluice block create ... --set-env config=KUBECONFIG` hands over the file's text.
        if not isinstance(value, str):
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"the kubeconfig text is not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(parsed, dict):
            raise ValueError("the kubeconfig text must be a YAML mapping (clusters, contexts, users…)")
        return parsed

    @classmethod
    def from_file(cls, path: str | Path | None = None, context_name: str | None = None) -> Self:
        """Read a kubeconfig file (default ``~/.kube/config``) into a block."""
        file = Path(path).expanduser() if path else Path.home() / ".kube" / "config"
        try:
            config = yaml.safe_load(file.read_text())
        except OSError as exc:
            raise ConfigurationError(f"cannot read kubeconfig {str(file)!r}: {exc.strerror or exc}") from None
        if not isinstance(config, dict):
            raise ConfigurationError(f"kubeconfig {str(file)!r} is not a YAML mapping")
        return cls(config=config, context_name=context_name)

    @classmethod
    def secret_fields(cls) -> list[str]:
        """``config`` as a whole: a kubeconfig holds tokens, client keys and passwords, so the server
        keeps it encrypted (``data()`` masks only its secret-looking entries)."""
        return [*super().secret_fields(), "config"]

    def data(self, include_secrets: bool = False) -> dict[str, Any]:
        """The fields as JSON; the kubeconfig's tokens, keys and passwords masked unless asked."""
        data = super().data(include_secrets=include_secrets)
        if not include_secrets:
            data["config"] = mask_settings(data.get("config") or {})
        return data

    def api_client(self) -> ApiClient:
        """An API client for this kubeconfig and context."""
        from kubernetes.config import ConfigException, new_client_from_config_dict

        try:
            return new_client_from_config_dict(self.config, context=self.context_name, persist_config=False)
        except (ConfigException, KeyError, TypeError, ValueError) as exc:
            context = f" (context {self.context_name!r})" if self.context_name else ""
            raise ConfigurationError(f"invalid kubeconfig in cluster_config{context}: {exc}") from None


def api_client(cluster_config: KubernetesClusterConfig | None) -> ApiClient:
    """The API client for ``cluster_config``; unset: in-cluster config, then the default kubeconfig."""
    if cluster_config is not None:
        return cluster_config.api_client()
    from kubernetes.client import ApiClient, Configuration
    from kubernetes.config import ConfigException, load_incluster_config, load_kube_config

    configuration = Configuration()
    try:
        load_incluster_config(client_configuration=configuration)
    except ConfigException as in_cluster_error:
        try:
            load_kube_config(client_configuration=configuration, persist_config=False)
        except (ConfigException, OSError) as file_error:
            raise InfrastructureNotAvailable(
                "kubernetes-job: no cluster to talk to. Set the block's cluster_config, run the agent in a "
                f"pod with a service account, or provide ~/.kube/config ({in_cluster_error}; {file_error})"
            ) from None
    return ApiClient(configuration)
