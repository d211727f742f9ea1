"""Installing small plugins for a test: a ``*.dist-info`` folder and a module in a folder put on the path.

Sluice discovers plugins by scanning ``sys.path`` for ``*.dist-info`` folders (``sluice.entry_points``),
so a folder written here and put on ``sys.path`` (or a subprocess's ``PYTHONPATH``) is a real install
as far as Sluice can tell. ``BROKEN_PLUGINS`` holds one plugin broken in each way the plugin manager
must survive.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path


def make_distribution(root: Path, name: str, module: str, source: str, entry_point: str | None = None) -> None:
    """Write an installed-looking distribution (dist-info + module) under ``root``."""
    dist_info = root / f"{name.replace('-', '_')}-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text(f"[sluice]\n{entry_point or module} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


#: (distribution, module, source) of plugins broken in every way listed by issue 13, item 6.
BROKEN_PLUGINS: dict[str, tuple[str, str]] = {
    "fake-sluice-unimportable": ("fake_sluice_unimportable", "import no_such_module_anywhere\n"),
    "fake-sluice-bad-commands": (
        "fake_sluice_bad_commands",
        """
        import typer
        from sluice.hookspecs import hookimpl

        def half() -> None:
            "Added before the hook raised."

        @hookimpl
        def register_commands(app):
            app.command("half-added")(half)
            raise RuntimeError("commands boom")
        """,
    ),
    "fake-sluice-bad-routes": (
        "fake_sluice_bad_routes",
        """
        from fastapi import APIRouter
        from sluice.hookspecs import hookimpl

        router = APIRouter()

        @router.get("/half-added")
        def half() -> dict:
            return {"half": True}

        @hookimpl
        def register_routes(app):
            app.include_router(router)
            raise RuntimeError("routes boom")
        """,
    ),
    "fake-sluice-misnamed-argument": (
        "fake_sluice_misnamed_argument",
        """
        from sluice.hookspecs import hookimpl

        @hookimpl
        def register_commands(application):
            pass
        """,
    ),
    "fake-sluice-misspelled-hook": (
        "fake_sluice_misspelled_hook",
        """
        from sluice.hookspecs import hookimpl

        @hookimpl
        def register_storage_block(register):
            pass
        """,
    ),
    "fake-sluice-bad-schedules": (
        "fake_sluice_bad_schedules",
        """
        from typing import Literal
        from sluice.hookspecs import hookimpl
        from sluice.schedules import Schedule

        class Never(Schedule):
            type: Literal["fake-never"] = "fake-never"
            def get_dates(self, n, start=None, end=None):
                return []
            def describe(self):
                return "never"

        @hookimpl
        def register_schedules(register):
            register(Never)
            raise ValueError("schedules boom")
        """,
    ),
    "fake-sluice-bad-services": (
        "fake_sluice_bad_services",
        """
        from sluice.hookspecs import hookimpl

        @hookimpl
        def register_services(register):
            raise RuntimeError("services boom")
        """,
    ),
    "fake-sluice-abstract": (
        "fake_sluice_abstract",
        """
        from typing import ClassVar
        from sluice.blocks import StorageBlock
        from sluice.hookspecs import hookimpl

        class HalfDone(StorageBlock):
            block_type_slug: ClassVar[str] = "fake-half-done"

        @hookimpl
        def register_storage_blocks(register):
            register(HalfDone)
        """,
    ),
    # Two distributions claiming the 'cron' schedule slug of sluice-cron: cron is disabled alone.
    "fake-sluice-rival-cron": (
        "fake_sluice_rival_cron",
        """
        from typing import Literal
        from sluice.hookspecs import hookimpl
        from sluice.schedules import Schedule

        class RivalCron(Schedule):
            type: Literal["cron"] = "cron"
            cron: str = "* * * * *"
            def get_dates(self, n, start=None, end=None):
                return []
            def describe(self):
                return "rival"

        @hookimpl
        def register_schedules(register):
            register(RivalCron)
        """,
    ),
}


def install_broken_plugins(root: Path) -> Path:
    """Install every plugin of ``BROKEN_PLUGINS`` under ``root``; returns ``root``."""
    for distribution, (module, source) in BROKEN_PLUGINS.items():
        make_distribution(root, distribution, module, source)
    return root


def environment_with(site: Path, **extra: str) -> dict[str, str]:
    """The test's environment with ``site`` first on ``PYTHONPATH``: a subprocess sees its plugins."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    return env
