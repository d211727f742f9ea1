"""The 'azure' storage block for Sluice (distribution `sluice-azure`).

The block class lives in ``sluice_azure.block``; it is imported only when the storage registry is
first asked for, so installing this plugin costs nothing at ``import sluice`` time.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_storage_blocks(register: Register) -> None:
    """Register ``Azure`` under the slug 'azure'."""
    from sluice_azure.block import Azure

    register(Azure)
