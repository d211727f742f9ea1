"""The 's3' storage block for Sluice (distribution `sluice-s3`).

The block class lives in ``sluice_s3.block``; it is imported only when the storage registry is
first asked for, so installing this plugin costs nothing at ``import sluice`` time.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_storage_blocks(register: Register) -> None:
    """Register ``S3`` under the slug 's3'."""
    from sluice_s3.block import S3

    register(S3)
