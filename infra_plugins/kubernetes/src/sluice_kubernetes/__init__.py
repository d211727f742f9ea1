"""The 'kubernetes-job' infrastructure type for Sluice (distribution `sluice-kubernetes`), with the
'kubernetes-cluster-config' block that says which cluster a Job block talks to."""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_infrastructure_blocks(register: Register) -> None:
    """Register ``KubernetesJob`` ('kubernetes-job') and the supporting ``KubernetesClusterConfig``
    ('kubernetes-cluster-config')."""
    from sluice_kubernetes.cluster import KubernetesClusterConfig
    from sluice_kubernetes.job import KubernetesJob

    register(KubernetesJob)
    register(KubernetesClusterConfig)  # a plain Block: listed as a supporting type, saved once and referenced
