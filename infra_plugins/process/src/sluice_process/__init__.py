"""The 'process' infrastructure type for Sluice (distribution `sluice-process`)."""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_infrastructure_blocks(register: Register) -> None:
    """Register ``Process`` under the slug 'process'."""
    from sluice_process.process import Process

    register(Process)
