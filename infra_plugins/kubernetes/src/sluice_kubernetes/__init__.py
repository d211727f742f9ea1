"""The 'kubernetes-job' infrastructure type for Sluice (distribution `sluice-kubernetes`)."""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_infrastructure_blocks(register: Register) -> None:
    """Register ``KubernetesJob`` under the slug 'kubernetes-job'."""
    from sluice_kubernetes.job import KubernetesJob

    register(KubernetesJob)
