"""The examples in docs/infrastructure.md are real: the base Job, the customizations, the RBAC."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from sluice_kubernetes.job import KubernetesJob
from sluice_kubernetes.manifest import default_job_manifest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "infrastructure.md"


def yaml_examples() -> list[Any]:
    """Every ```yaml block of the page, parsed (a multi-document block gives a list)."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    return [list(yaml.safe_load_all(block)) for block in blocks]


def find_example(predicate: Any) -> list[Any]:
    """The first example whose documents satisfy ``predicate``."""
    return next(documents for documents in yaml_examples() if predicate(documents))


def test_the_documented_default_job_is_the_default() -> None:
    (documented,) = find_example(lambda docs: isinstance(docs[0], dict) and docs[0].get("kind") == "Job")
    assert documented == default_job_manifest()


def test_the_documented_customizations_apply_and_give_a_valid_job() -> None:
    (example,) = find_example(lambda docs: isinstance(docs[0], dict) and "customizations" in docs[0])
    manifest = KubernetesJob(customizations=example["customizations"]).build_job()
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    assert manifest["spec"]["template"]["spec"]["containers"][0]["env"][-1]["name"] == "PYTHONUNBUFFERED"


def test_the_documented_rbac_is_valid_and_covers_jobs_pods_and_logs() -> None:
    documents = find_example(lambda docs: isinstance(docs[0], dict) and docs[0].get("kind") == "Role")
    for document in documents:
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
    role = documents[0]
    resources = {resource for rule in role["rules"] for resource in rule["resources"]}
    assert resources == {"jobs", "pods", "pods/log"}
    assert documents[1]["kind"] == "RoleBinding"
    assert documents[1]["roleRef"]["name"] == role["metadata"]["name"]


def test_the_documented_kubernetes_overrides_apply() -> None:
    (example,) = find_example(lambda docs: isinstance(docs[0], dict) and "infra_overrides" in docs[0])
    overrides = {
        key: value
        for key, value in example["infra_overrides"].items()
        if key.split(".")[0] in KubernetesJob.model_fields
    }
    manifest = KubernetesJob().with_overrides(overrides).build_job()
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    assert manifest["spec"]["activeDeadlineSeconds"] == 3600
    assert manifest["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "batch"}


def test_every_field_of_every_supporting_block_type_is_documented() -> None:
    from sluice.plugins import PluginManager

    text = DOCS.read_text()
    registry = PluginManager().registry("supporting")
    assert {"docker-registry", "kubernetes-cluster-config"} <= set(registry.slugs())
    for slug in registry.slugs():
        assert f"`{slug}`" in text, f"{slug} is not named in docs/infrastructure.md"
        missing = [name for name in registry.get(slug).model_fields if f"`{name}`" not in text]
        assert missing == [], f"fields of {slug} missing from docs/infrastructure.md"
