"""What Sluice's own processes (the ``sluice`` command, ``python -m sluice.engine``) do first.

Only entry points call these: ``import sluice`` changes nothing in the interpreter of a user's program.
"""

from __future__ import annotations

import sys


def skip_httpx_command_line() -> None:
    """Keep httpx from importing its own command line (click, rich.syntax, pygments) with itself.

    ``httpx/__init__`` imports ``httpx._main`` inside ``try/except ImportError`` only to offer the
    ``httpx`` console script; that costs ~70–85 ms of every process that talks to the API. A ``None``
    entry in ``sys.modules`` makes the import fail, and httpx keeps its stub ``main`` instead.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
