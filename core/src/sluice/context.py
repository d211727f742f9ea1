"""The run context: which flow run the current code belongs to (a ``ContextVar``, so threads and
subflows each see their own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:  # pragma: no cover
    from sluice.flows import Flow


@dataclass
class FlowRunContext:
    """What code running inside a flow run can know about it."""

    flow: Flow
    flow_run_id: UUID
    flow_run_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    parent: FlowRunContext | None = None


_current: ContextVar[FlowRunContext | None] = ContextVar("sluice_flow_run", default=None)


def get_flow_run_context() -> FlowRunContext | None:
    """The context of the flow run the caller is inside, or None outside any flow run."""
    return _current.get()


@contextmanager
def flow_run_context(context: FlowRunContext) -> Iterator[FlowRunContext]:
    """Make ``context`` the current flow run inside the ``with`` block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
