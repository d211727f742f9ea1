"""The 'github' storage block for Sluice (distribution `sluice-github`).

The block class lives in ``sluice_github.block``; it is imported only when the storage registry is
first asked for, so installing this plugin costs nothing at ``import sluice`` time.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_storage_blocks(register: Register) -> None:
    """Register ``GitHub`` under the slug 'github'."""
    from sluice_github.block import GitHub

    register(GitHub)
