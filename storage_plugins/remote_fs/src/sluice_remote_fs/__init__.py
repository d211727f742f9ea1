"""The 'remote-file-system' storage block for Sluice (distribution `sluice-remote-fs`).

The block class lives in ``sluice_remote_fs.block``; it is imported only when the storage registry is
first asked for, so installing this plugin costs nothing at ``import sluice`` time.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_storage_blocks(register: Register) -> None:
    """Register ``RemoteFileSystem`` under the slug 'remote-file-system'."""
    from sluice_remote_fs.block import RemoteFileSystem

    register(RemoteFileSystem)
