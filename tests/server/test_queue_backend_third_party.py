"""A queue backend written out of tree, as a third party would, using nothing from Sluice but
``sluice.queues`` and ``sluice.hookspecs``: registered on a fresh plugin manager, it passes the whole
queue-backend contract kit, on SQLite and PostgreSQL.

It decides in Python which runs to hand out (from the store's reads) and moves them with the store's
conditional step; one claim at a time per process keeps its counts exact (so its limits hold for one
server process — enough for the kit, which runs one).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from sluice.hookspecs import hookimpl
from sluice.queues import BuildAnswer, ClaimRequest, QueueBackend, QueueStore
from sluice.testing.queue_backends import QueueBackendContract


class SmallQueueBackend(QueueBackend):
    """Reads due runs and counts, picks in Python, moves them with ``move_to_pending_if_scheduled``."""

    slug: ClassVar[str] = "small"

    def __init__(self, store: QueueStore, settings: Any = None) -> None:
        super().__init__(store, settings)
        self._one_claim_at_a_time = threading.Lock()

    def claim_runs(self, request: ClaimRequest, build_answer: BuildAnswer | None = None) -> list[Any]:
        horizon = datetime.now(UTC) + timedelta(seconds=request.prefetch_seconds)
        with self._one_claim_at_a_time:
            with self.store.snapshot() as reads:
                queues = [queue for queue in reads.queues(request) if not queue.is_paused]
                counts = reads.active_counts(queues)
                free = {q.name: q.concurrency_limit - counts[q.name] for q in queues if q.concurrency_limit is not None}
                runs = reads.due_runs([q for q in queues if free.get(q.name, 1) > 0], horizon, request.limit + 20)
                limits = reads.deployment_limits({run.deployment_id for run in runs if run.deployment_id})
                active = reads.deployment_active_counts(limits)
            deployment_free = {key: limit - active.get(key, 0) for key, limit in limits.items()}
            picked = []
            for run in runs:
                queue, deployment = run.queues[0], run.deployment_id
                if len(picked) < request.limit and free.get(queue, 1) > 0 and deployment_free.get(deployment, 1) > 0:
                    picked.append(run.id)
                    if queue in free:
                        free[queue] -= 1
                    if deployment in deployment_free:
                        deployment_free[deployment] -= 1
            result = self.store.move_to_pending_if_scheduled(picked, request.agent_id, build_answer)
        self.store.record_polled([queue.name for queue in queues])
        return result.answers


class SmallQueuePlugin:
    """The plugin object a third-party package would expose through its entry point."""

    @hookimpl
    def register_queue_backends(self, register: Any) -> None:
        register(SmallQueueBackend)


class TestAThirdPartyQueueBackend(QueueBackendContract):
    """The contract kit, run on the out-of-tree backend."""

    backend_slug = "small"

    @pytest.fixture
    def queue_backend_plugin(self) -> Any:
        """The out-of-tree plugin."""
        return SmallQueuePlugin()

    @pytest.fixture
    def queue_contract_database_url(self, database_url: str) -> str:
        """SQLite and PostgreSQL."""
        return database_url


def test_the_backend_imports_nothing_from_sluice_but_the_public_modules() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    sluice_modules = {name for name in imported if name.split(".")[0] == "sluice"}
    assert sluice_modules == {"sluice.hookspecs", "sluice.queues", "sluice.testing.queue_backends"}
