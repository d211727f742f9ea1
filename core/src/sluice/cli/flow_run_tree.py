"""The tree of a flow run as ``sluice flow-run inspect`` prints it: task runs and subflow runs,
with their states, attempts and durations, subflows under the task that called them."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def duration(start: datetime | None, end: datetime | None) -> str:
    """``0.25s``, ``12.3s``, ``4m05s``; ``-`` before it started, ``running`` before it ended."""
    if start is None:
        return "-"
    if end is None:
        return "running"
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _state(run: Any) -> str:
    state = run.state
    if state is None:
        return "-"
    return state.type.value if state.name.upper() == state.type.value else f"{state.type.value} ({state.name})"


def _flow_run_line(run: Any) -> str:
    return f"{run.name} [flow run {run.id}]  {_state(run)}  {duration(run.start_time, run.end_time)}"


def _task_run_line(run: Any) -> str:
    attempts = f"  {run.run_count} attempts" if run.run_count > 1 else ""
    message = ""
    if run.state is not None and run.state.type.value in ("FAILED", "CRASHED") and run.state.message:
        message = f"  {run.state.message}"
    return f"{run.name}  {_state(run)}  {duration(run.start_time, run.end_time)}{attempts}{message}"


def tree_lines(tree: Any) -> list[str]:
    """The lines of a ``FlowRunTree``: the run, then each task run and subflow run, indented."""
    lines = [_flow_run_line(tree.flow_run)]
    _children(tree, "", lines)
    if tree.truncated:
        lines.append("… (cut: the tree is larger than the API returns at once)")
    return lines


def _children(tree: Any, prefix: str, lines: list[str]) -> None:
    """Task runs in start order, each followed by the subflows it called; then subflows called by the flow."""
    by_task: dict[Any, list[Any]] = {}
    direct: list[Any] = []
    task_ids = {run.id for run in tree.task_runs}
    for sub in tree.subflow_runs:
        parent = sub.flow_run.parent_task_run_id
        (by_task.setdefault(parent, []) if parent in task_ids else direct).append(sub)
    nodes: list[tuple[str, Any]] = [("task", run) for run in tree.task_runs] + [("flow", sub) for sub in direct]
    nodes.sort(key=lambda node: _start(node))
    for index, (kind, node) in enumerate(nodes):
        last = index == len(nodes) - 1
        branch, inner = ("└── ", "    ") if last else ("├── ", "│   ")
        if kind == "task":
            lines.append(prefix + branch + _task_run_line(node))
            called = by_task.get(node.id, [])
            for sub_index, sub in enumerate(called):
                sub_last = sub_index == len(called) - 1
                sub_branch, sub_inner = ("└── ", "    ") if sub_last else ("├── ", "│   ")
                lines.append(prefix + inner + sub_branch + _flow_run_line(sub.flow_run))
                _children(sub, prefix + inner + sub_inner, lines)
        else:
            lines.append(prefix + branch + _flow_run_line(node.flow_run))
            _children(node, prefix + inner, lines)


def _start(node: tuple[str, Any]) -> str:
    kind, value = node
    run = value if kind == "task" else value.flow_run
    when = run.start_time or run.expected_start_time or run.created
    return when.isoformat() if when else ""
