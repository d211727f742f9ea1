"""Fixtures of the infrastructure tests: the session's Podman engine (see ``podman.py``)."""

from tests.infra.podman import podman_engine

__all__ = ["podman_engine"]
