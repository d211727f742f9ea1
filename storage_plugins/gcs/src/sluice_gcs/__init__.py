"""The 'gcs' storage block for Sluice (distribution `sluice-gcs`).

The block class lives in ``sluice_gcs.block``; it is imported only when the storage registry is
first asked for, so installing this plugin costs nothing at ``import sluice`` time.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_storage_blocks(register: Register) -> None:
    """Register ``GCS`` under the slug 'gcs'."""
    from sluice_gcs.block import GCS

    register(GCS)
