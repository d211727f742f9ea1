"""``KubernetesJob``: run a flow run's engine as a Kubernetes Job, one pod, no retries."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import Field, field_validator

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
from sluice_kubernetes.cluster import KubernetesClusterConfig, api_client
from sluice_kubernetes.customizations import CustomizationError, apply_customizations, check_customizations
from sluice_kubernetes.manifest import CONTAINER_NAME, default_job_manifest, engine_container, fill_manifest
from sluice_kubernetes.watching import container_exit_code, follow_log, waiting_reason, watch_job_pod

logger = logging.getLogger("sluice.infrastructure.kubernetes")

_STARTED_PHASES = ("Running", "Succeeded", "Failed")
_FINISHED_PHASES = ("Succeeded", "Failed")

__all__ = ["KubernetesClusterConfig", "KubernetesImagePullPolicy", "KubernetesJob"]


class KubernetesImagePullPolicy(StrEnum):
    """When the kubelet pulls the image (the container's ``imagePullPolicy``)."""

    IF_NOT_PRESENT = "IfNotPresent"
    ALWAYS = "Always"
    NEVER = "Never"


class KubernetesJob(InfrastructureBlock):
    """Run each flow run as a Kubernetes Job in a cluster.

    The Job is built from ``job`` (a base manifest), the fields below, then ``customizations`` (an
    RFC 6902 JSON Patch). ``preview()`` shows the result; it is validated before anything is sent.
    The identifier is ``namespace:job-name``; ``kill`` deletes the Job and its pod.
    """

    block_type_slug: ClassVar[str] = "kubernetes-job"
    block_type_name: ClassVar[str | None] = "Kubernetes Job"

    #: The image with Python and Sluice; default: the one matching the agent (``sluice/sluice:0.1.0-python3.11``).
    image: str | None = None
    namespace: str = "default"
    service_account_name: str | None = None
    image_pull_policy: KubernetesImagePullPolicy | None = None
    #: Which cluster: a ``KubernetesClusterConfig`` or a saved one, ``"kubernetes-cluster-config/<name>"``
    #: (stored as that reference); unset: the in-cluster service account, else the default kubeconfig.
    cluster_config: Annotated[KubernetesClusterConfig | str | None, BlockReference(KubernetesClusterConfig)] = None
    #: The base Job manifest the fields and customizations are applied to.
    job: dict[str, Any] = Field(default_factory=default_job_manifest)
    #: An RFC 6902 JSON Patch applied to the manifest last, e.g. resource requests or node selectors.
    customizations: list[dict[str, Any]] = []
    #: Seconds a finished Job is kept before Kubernetes deletes it (``ttlSecondsAfterFinished``).
    finished_job_ttl: int | None = Field(default=None, ge=0)
    #: Seconds to wait for the run to finish once its pod started; unset: no limit.
    job_watch_timeout_seconds: int | None = Field(default=None, gt=0)
    #: Seconds to wait for the pod to start (image pull, scheduling).
    pod_watch_timeout_seconds: int = Field(default=60, gt=0)

    def default_command(self) -> list[str]:
        """``python -m sluice.engine`` with the image's own interpreter (not the agent's path)."""
        return engine_command("python")

    @field_validator("customizations", mode="before")
    @classmethod
    def _check_customizations(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"customizations is not valid JSON: {exc}") from None
        try:
            return check_customizations(value)
        except CustomizationError as exc:
            raise ValueError(f"invalid JSON Patch: {exc}") from None

    @field_validator("job")
    @classmethod
    def _check_job(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("kind", "Job") != "Job" or value.get("apiVersion", "batch/v1") != "batch/v1":
            raise ValueError("job must be a batch/v1 Job manifest (kind: Job)")
        return value

    # -- the manifest ----------------------------------------------------------------------------

    def cluster(self) -> KubernetesClusterConfig | None:
        """The cluster to talk to: ``cluster_config``, loaded from the API when it names a saved one."""
        cluster_config = self.resolved().cluster_config
        return cluster_config if isinstance(cluster_config, KubernetesClusterConfig) else None

    def build_job(self) -> dict[str, Any]:
        """The Job manifest this block would create; a customization that fails raises ``ConfigurationError``."""
        manifest = fill_manifest(
            self.job,
            namespace=self.namespace,
            name=self.name,
            labels=self.labels,
            image=self.image or default_engine_image(),
            image_pull_policy=self.image_pull_policy.value if self.image_pull_policy else None,
            command=self.command or self.default_command(),
            env=self.env,
            service_account_name=self.service_account_name,
            finished_job_ttl=self.finished_job_ttl,
        )
        try:
            manifest = apply_customizations(manifest, self.customizations)
        except CustomizationError as exc:
            raise ConfigurationError(f"kubernetes-job customizations: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("kind") != "Job":
            raise ConfigurationError("kubernetes-job customizations: the result is no longer a Job manifest")
        return manifest

    def preview(self) -> str:
        """The Job manifest as YAML, secret-looking environment values masked."""
        manifest = copy.deepcopy(self.build_job())
        for item in engine_container(manifest).get("env") or []:
            if "value" in item and looks_secret(str(item.get("name", ""))):
                item["value"] = "********"
        return yaml.safe_dump(manifest, sort_keys=False)

    # -- running ---------------------------------------------------------------------------------

    def run(self, on_started: Callable[[str], None] | None = None) -> InfrastructureResult:
        """Create the Job, follow its pod's log and return the engine container's exit code.

        Returns -1 when the pod does not start within ``pod_watch_timeout_seconds``, does not finish
        within ``job_watch_timeout_seconds``, or disappears (the Job was deleted) before finishing.
        """
        manifest = self.build_job()  # fails here, before any request, on a bad customization
        container = engine_container(manifest).get("name", CONTAINER_NAME)
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with api_client(self.cluster()) as api:
            try:
                created = client.BatchV1Api(api).create_namespaced_job(self.namespace, manifest)
            except ApiException as exc:
                raise api_refusal(f"create a Job in namespace {self.namespace!r}", exc) from None
            job_name = created.metadata.name
            identifier = f"{self.namespace}:{job_name}"
            if on_started is not None:
                on_started(identifier)
            try:
                status_code = self._wait_for_pod(client.CoreV1Api(api), job_name, container)
            except ApiException as exc:
                raise api_refusal(f"watch the pods of Job {job_name!r}", exc) from None
        return InfrastructureResult(identifier=identifier, status_code=status_code)

    def _wait_for_pod(self, core: Any, job_name: str, container: str) -> int:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        reasons: list[str] = []
        deleted: list[bool] = []

        def started(event_type: str, pod: dict[str, Any]) -> bool:
            reason = waiting_reason(pod)
            if reason:
                reasons.append(reason)
            if event_type == "DELETED":
                deleted.append(True)
                return True
            return (pod.get("status") or {}).get("phase") in _STARTED_PHASES

        pod = watch_job_pod(core, self.namespace, job_name, started, self.pod_watch_timeout_seconds)
        if pod is None or deleted:
            why = f" (last reason: {reasons[-1]})" if reasons else ""
            limit = self.pod_watch_timeout_seconds
            what = "was deleted before it started" if deleted else f"did not start within {limit}s"
            self._report(f"the pod of Job {job_name} {what}{why}")
            return -1
        pod_name = pod["metadata"]["name"]
        limit = self.job_watch_timeout_seconds
        deadline = None if limit is None else time.monotonic() + limit
        if self.stream_output:
            try:
                for line in follow_log(core, self.namespace, pod_name, container, timeout=limit):
                    self.write_output(line)
            except ApiException as exc:  # the pod can go away while we read; its end is still watched
                self._report(f"the log of pod {pod_name} stopped: {exc.status} {exc.reason}")
            except urllib3.exceptions.HTTPError:
                pass  # job_watch_timeout_seconds ran out while following: reported just below

        def finished(event_type: str, found: dict[str, Any]) -> bool:
            return event_type == "DELETED" or (found.get("status") or {}).get("phase") in _FINISHED_PHASES

        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        pod = watch_job_pod(core, self.namespace, job_name, finished, remaining)
        if pod is None:
            self._report(f"Job {job_name} did not finish within {self.job_watch_timeout_seconds}s")
            return -1
        exit_code = container_exit_code(pod, container)
        if exit_code is None:
            self._report(f"the pod {pod_name} of Job {job_name} went away before its container ended")
            return -1
        return exit_code

    def _report(self, message: str) -> None:
        logger.warning(message)
        if self.stream_output:
            self.write_output(message)

    # -- killing ---------------------------------------------------------------------------------

    def kill(self, identifier: str, grace_seconds: float = 30) -> None:
        """Delete the Job ``namespace:name`` and its pods (foreground propagation).

        The pod gets ``grace_seconds`` between SIGTERM and SIGKILL. A Job that no longer exists
        raises ``InfrastructureNotFound``.
        """
        namespace, _, job_name = identifier.partition(":")
        if not namespace or not job_name:
            raise ConfigurationError(f"invalid kubernetes-job identifier {identifier!r}: expected 'namespace:job-name'")
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with api_client(self.cluster()) as api:
            try:
                client.BatchV1Api(api).delete_namespaced_job(
                    job_name,
                    namespace,
                    body=client.V1DeleteOptions(
                        propagation_policy="Foreground", grace_period_seconds=max(0, int(grace_seconds))
                    ),
                )
            except ApiException as exc:
                if exc.status == 404:
                    raise InfrastructureNotFound(f"Job {job_name!r} not found in namespace {namespace!r}") from None
                raise api_refusal(f"delete the Job {job_name!r} in namespace {namespace!r}", exc) from None


def api_refusal(action: str, exc: Any) -> InfrastructureNotAvailable:
    """A readable error for an ``ApiException``: what was refused, the API's own message, and a hint."""
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        message = exc.reason
    hint = ""
    if exc.status in (401, 403):
        hint = (
            "; the agent's account needs a Role allowing jobs (create, get, list, watch, delete), "
            "pods (get, list, watch) and pods/log (get) — see docs/infrastructure.md"
        )
    return InfrastructureNotAvailable(f"kubernetes-job: the cluster refused to {action}: {exc.status} {message}{hint}")
