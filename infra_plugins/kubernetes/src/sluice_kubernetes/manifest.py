"""Building a flow run's Job manifest: the default Job, label and name sanitising, env lists."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

#: The container that runs the engine; customizations address it as ``/spec/template/spec/containers/0``.
CONTAINER_NAME = "sluice-job"

_LABEL_NAME_MAX = 63
_LABEL_PREFIX_MAX = 253
# The API server appends 5 random characters to generateName; a Job name must stay a DNS label.
_GENERATE_NAME_MAX = 57


def default_job_manifest() -> dict[str, Any]:
    """The base Job: one pod, no retries (Sluice owns retries), restartPolicy Never."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": {}},
        "spec": {
            "backoffLimit": 0,
            "completions": 1,
            "parallelism": 1,
            "template": {
                "metadata": {"labels": {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": CONTAINER_NAME, "env": []}],
                },
            },
        },
    }


def sanitize_label_value(value: str) -> str:
    """A valid label value: at most 63 of ``[A-Za-z0-9_.-]``, starting and ending alphanumeric."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value))[:_LABEL_NAME_MAX]
    return cleaned.strip("-_.")


def sanitize_label_key(key: str) -> str:
    """A valid label key: an optional DNS-subdomain prefix and a slash, then a name like a value."""
    prefix, _, name = str(key).rpartition("/")
    name = sanitize_label_value(name) or "label"
    if not prefix:
        return name
    prefix = re.sub(r"[^a-z0-9.-]+", "-", prefix.lower())[:_LABEL_PREFIX_MAX].strip("-.")
    return f"{prefix}/{name}" if prefix else name


def sanitize_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Every key and value of ``labels`` made valid for Kubernetes."""
    return {sanitize_label_key(key): sanitize_label_value(value) for key, value in labels.items()}


def generate_name(name: str | None) -> str:
    """A ``metadata.generateName`` from a run name: lower-case DNS label characters, ending in ``-``."""
    base = re.sub(r"[^a-z0-9-]+", "-", (name or "").lower()).strip("-")[: _GENERATE_NAME_MAX - 1].rstrip("-")
    return f"{base or 'sluice-job'}-"


def merge_env(existing: list[dict[str, Any]], env: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """A container ``env`` list with ``env`` applied: a value replaces or adds, null removes."""
    result = [dict(item) for item in existing if item.get("name") not in env]
    result += [{"name": key, "value": value} for key, value in env.items() if value is not None]
    return result


def engine_container(manifest: dict[str, Any]) -> dict[str, Any]:
    """The container that runs the engine: the one named ``sluice-job``, else the first one."""
    containers = manifest.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    containers = containers.setdefault("containers", [])
    if not containers:
        containers.append({"name": CONTAINER_NAME})
    for container in containers:
        if container.get("name") == CONTAINER_NAME:
            return container
    return containers[0]


def fill_manifest(
    base: Mapping[str, Any],
    *,
    namespace: str,
    name: str | None,
    labels: Mapping[str, str],
    image: str,
    image_pull_policy: str | None,
    command: list[str] | None,
    env: Mapping[str, str | None],
    service_account_name: str | None,
    finished_job_ttl: int | None,
) -> dict[str, Any]:
    """A copy of ``base`` with the block's fields written into the places Kubernetes reads them."""
    manifest = copy.deepcopy(dict(base))
    manifest.setdefault("apiVersion", "batch/v1")
    manifest.setdefault("kind", "Job")
    metadata = manifest.setdefault("metadata", {})
    metadata["namespace"] = namespace
    if not metadata.get("name"):
        metadata.setdefault("generateName", generate_name(name))
    clean_labels = sanitize_labels(labels)
    metadata["labels"] = {**(metadata.get("labels") or {}), **clean_labels}

    spec = manifest.setdefault("spec", {})
    spec.setdefault("backoffLimit", 0)
    if finished_job_ttl is not None:
        spec["ttlSecondsAfterFinished"] = finished_job_ttl
    template = spec.setdefault("template", {})
    template_metadata = template.setdefault("metadata", {})
    template_metadata["labels"] = {**(template_metadata.get("labels") or {}), **clean_labels}
    pod_spec = template.setdefault("spec", {})
    pod_spec["restartPolicy"] = "Never"
    if service_account_name:
        pod_spec["serviceAccountName"] = service_account_name

    container = engine_container(manifest)
    container.setdefault("name", CONTAINER_NAME)
    container["image"] = image
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    if command:
        container["args"] = list(command)
    container["env"] = merge_env(container.get("env") or [], env)
    return manifest
