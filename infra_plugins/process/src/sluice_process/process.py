"""``Process``: run a flow run's engine as a subprocess of the agent, on the agent's machine.

Everything is done by ``sluice.infrastructure.SubprocessInfrastructure``, the base any third party
can build a local-process infrastructure on: this plugin only gives it its slug.
"""

from __future__ import annotations

from typing import ClassVar

from sluice.infrastructure import SubprocessInfrastructure, process_group_alive

__all__ = ["Process", "process_group_alive"]


class Process(SubprocessInfrastructure):
    """Run each flow run as a local process started by the agent.

    The command defaults to ``python -m sluice.engine`` with the agent's own interpreter. ``env`` is
    merged over the agent's environment; a value of null removes a variable. The process gets a
    session (and process group) of its own, so ``kill`` reaches every child it started. It also gets
    a lifeline: the read end of a pipe (``SLUICE__LIFELINE_FD``) whose write end only the starting
    process holds, so the engine stops its flow when the agent dies, even by ``kill -9``.
    """

    block_type_slug: ClassVar[str] = "process"
    block_type_name: ClassVar[str | None] = "Process"
