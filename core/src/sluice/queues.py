"""The ``QueueBackend`` protocol: how agents claim runs from work queues.

A backend is registered by a plugin through ``register_queue_backends`` under a ``slug`` (the default
one is ``sql``, in ``sluice-queue-sql``). The API server holds one backend instance and calls it from
``POST /api/work_queues/claim``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable


@runtime_checkable
class QueueBackend(Protocol):
    """Claims ready flow runs for agents, honouring pause and concurrency limits."""

    slug: ClassVar[str]

    def claim_runs(
        self,
        queues: Sequence[str],
        limit: int,
        agent_id: Any,
        prefetch_seconds: float,
    ) -> list[Any]:
        """Atomically move up to ``limit`` SCHEDULED runs of ``queues`` that are due within
        ``prefetch_seconds`` to PENDING for ``agent_id``, and return them.

        Paused queues hand out nothing; queue and deployment concurrency limits are enforced in the
        same transaction, so two agents never claim one run and no limit is ever exceeded.
        """
        ...

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Return as soon as there may be work for ``queues`` (a run was created or became due),
        or after ``timeout`` seconds."""
        ...
