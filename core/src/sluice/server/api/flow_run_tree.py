"""``GET /api/flow_runs/{id}/tree``: a flow run with its task runs and its subflow runs, recursively."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sluice.schemas.task_runs import MAX_TREE_DEPTH, MAX_TREE_NODES, FlowRunTree
from sluice.server.api.common import get_or_404
from sluice.server.api.deps import ReadSessionDep
from sluice.server.api.flow_runs import to_flow_run
from sluice.server.api.responses import model_response
from sluice.server.api.task_runs import to_task_run
from sluice.server.database.tables import FlowRunTable, TaskRunTable

router = APIRouter(prefix="/flow_runs", tags=["Flow runs"])

_CHUNK = 500


@router.get("/{flow_run_id}/tree", response_model=FlowRunTree)
def read_flow_run_tree(flow_run_id: UUID, session: ReadSessionDep) -> Response:
    """The run with its task runs (in start order) and its subflow runs, each with theirs.

    At most ``MAX_TREE_NODES`` task and subflow runs and ``MAX_TREE_DEPTH`` levels of subflows;
    ``truncated`` says when the tree was cut.
    """
    root = get_or_404(session, FlowRunTable, flow_run_id, "flow run")
    budget = [MAX_TREE_NODES]
    tree = FlowRunTree(flow_run=to_flow_run(root))
    level: list[FlowRunTree] = [tree]
    depth = 0
    while level:
        by_id = {node.flow_run.id: node for node in level}
        truncated = _add_task_runs(session, by_id, budget)
        children: list[FlowRunTree] = []
        if depth < MAX_TREE_DEPTH and budget[0] > 0:
            truncated |= _add_subflows(session, by_id, budget, children)
        elif _has_subflows(session, list(by_id)):
            truncated = True
        if truncated:
            tree.truncated = True
        level = children
        depth += 1
    return model_response(tree)


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[start : start + _CHUNK] for start in range(0, len(values), _CHUNK)]


def _add_task_runs(session: Session, by_id: dict[UUID, FlowRunTree], budget: list[int]) -> bool:
    """Attach each flow run's task runs, spending ``budget``; True when some were left out."""
    for chunk in _chunks(list(by_id)):
        query = (
            select(TaskRunTable)
            .where(TaskRunTable.flow_run_id.in_(chunk))
            .order_by(TaskRunTable.expected_start_time, TaskRunTable.id)
            .limit(budget[0] + 1)
        )
        rows = list(session.scalars(query))
        if len(rows) > budget[0]:
            for row in rows[: budget[0]]:
                by_id[row.flow_run_id].task_runs.append(to_task_run(row))
            budget[0] = 0
            return True
        budget[0] -= len(rows)
        for row in rows:
            by_id[row.flow_run_id].task_runs.append(to_task_run(row))
    return False


def _add_subflows(
    session: Session, by_id: dict[UUID, FlowRunTree], budget: list[int], children: list[FlowRunTree]
) -> bool:
    """Attach each flow run's subflow runs (as new tree nodes in ``children``); True when cut."""
    for chunk in _chunks(list(by_id)):
        query = (
            select(FlowRunTable)
            .where(FlowRunTable.parent_flow_run_id.in_(chunk))
            .order_by(FlowRunTable.expected_start_time, FlowRunTable.id)
            .limit(budget[0] + 1)
        )
        rows = list(session.scalars(query))
        cut = len(rows) > budget[0]
        for row in rows[: budget[0]]:
            node = FlowRunTree(flow_run=to_flow_run(row))
            by_id[row.parent_flow_run_id].subflow_runs.append(node)
            children.append(node)
        budget[0] -= min(len(rows), budget[0])
        if cut:
            return True
    return False


def _has_subflows(session: Session, ids: list[UUID]) -> bool:
    for chunk in _chunks(ids):
        query = select(FlowRunTable.id).where(FlowRunTable.parent_flow_run_id.in_(chunk)).limit(1)
        if session.scalars(query).first() is not None:
            return True
    return False
