"""The 'smb' storage block for Sluice (distribution `sluice-smb`).

The block class lives in ``sluice_smb.block``; it is imported only when the storage registry is
first asked for, so installing this plugin costs nothing at ``import sluice`` time.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_storage_blocks(register: Register) -> None:
    """Register ``SMB`` under the slug 'smb'."""
    from sluice_smb.block import SMB

    register(SMB)
