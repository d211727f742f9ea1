"""The public infrastructure interface (``sluice.infrastructure``) as a third party uses it: the base
block's default command, and ``SubprocessInfrastructure`` running a real flow run (issue 13, item 1)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sluice.agent import Agent
from sluice.client import get_client
from sluice.hookspecs import hookimpl
from sluice.infrastructure import InfrastructureBlock, InfrastructureResult, SubprocessInfrastructure
from sluice.plugins import PluginManager, use_plugin_manager

FLOW = """from sluice import flow


@flow(name="touch")
def touch(path: str) -> None:
    open(path, "w").write("done")
"""


class Bare(InfrastructureBlock):
    """An infrastructure type that keeps the base's ``default_command``."""

    block_type_slug: ClassVar[str] = "acme-bare"

    def run(self, on_started: Callable[[str], None] | None = None) -> InfrastructureResult:
        raise NotImplementedError

    def kill(self, identifier: str, grace_seconds: float = 30) -> None:
        raise NotImplementedError

    def preview(self) -> str:
        return ""


class Nice(SubprocessInfrastructure):
    """A third party's local-process type: the engine under ``nice``, nothing else of its own."""

    block_type_slug: ClassVar[str] = "acme-nice"

    def command_for_run(self) -> list[str]:
        return ["nice", "-n", "5", *super().command_for_run()]


class NicePlugin:
    @hookimpl
    def register_infrastructure_blocks(self, register: Any) -> None:
        register(Nice)


def test_the_base_default_command_runs_the_engine_with_the_agent_interpreter() -> None:
    prepared = Bare().prepare_for_flow_run("8a4c7f2e-0000-0000-0000-000000000001")
    assert prepared.command == [sys.executable, "-m", "sluice.engine"]


def test_a_subprocess_type_previews_its_wrapped_command() -> None:
    assert Nice(working_dir="/srv").preview() == f"cd /srv && nice -n 5 {sys.executable} -m sluice.engine"


@pytest.fixture
def with_nice() -> Iterator[PluginManager]:
    """The installed plugins (a queue backend is needed) plus ``Nice``, in force for the test."""
    manager = PluginManager()
    manager.register(NicePlugin(), name="acme-nice", distribution="acme-nice")
    with use_plugin_manager(manager):
        yield manager


@pytest.mark.usefixtures("with_nice")
def test_a_third_party_subprocess_type_runs_a_flow_without_python_on_the_path(tmp_path: Path) -> None:
    (tmp_path / "touch.py").write_text(FLOW)
    output = tmp_path / "out.txt"
    with get_client() as client:
        flow = client.create_flow("touch")
        deployment = client.create_deployment(
            "nice",
            flow.id,
            work_queue_name="q",
            path=str(tmp_path),
            entrypoint="touch.py:touch",
            # No interpreter on the PATH: the engine must be started with the agent's own.
            infrastructure={"type": "acme-nice", "stream_output": False, "env": {"PATH": "/usr/bin:/bin"}},
        )
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"path": str(output)})

    assert Agent(["q"], prefetch_seconds=0).start(run_once=True) == 1

    with get_client() as client:
        finished = client.read_flow_run(run.id)
    assert finished.state.type.value == "COMPLETED", finished.state.message
    assert output.read_text() == "done"
