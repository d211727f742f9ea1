"""The 'local-file-system' storage block for Sluice (distribution `sluice-local`).

The block class lives in ``sluice_local.block``; it is imported only when the storage registry is
first asked for, so installing this plugin costs nothing at ``import sluice`` time.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_storage_blocks(register: Register) -> None:
    """Register ``LocalFileSystem`` under the slug 'local-file-system'."""
    from sluice_local.block import LocalFileSystem

    register(LocalFileSystem)
