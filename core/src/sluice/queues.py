"""The ``QueueBackend`` protocol: how agents claim runs from work queues.

A backend is registered by a plugin through ``register_queue_backends`` under a ``slug`` (the default
one is ``sql``, in ``sluice-queue-sql``). Each API server process makes one instance per database
with ``cls(database, settings)`` when its app is built (``SLUICE_QUEUE_BACKEND`` picks the slug) and
calls it from ``POST /api/work_queues/claim``:

1. ``version = backend.work_version()``
2. ``answers = backend.claim_runs(request, build_answer=...)`` in a worker thread; if it claimed
   runs, answer with them;
3. otherwise ``await backend.wait_for_work(..., since=version)`` and go back to 2 until the long
   poll's time is up.

Taking the version *before* the claim means a run created between the claim and the wait is never
missed: the wait returns at once because the version moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable
from uuid import UUID

#: State types that hold a concurrency slot: a run counts against its queue's and its deployment's
#: limit from the claim until it ends.
ACTIVE_STATE_TYPES = ("PENDING", "RUNNING", "CANCELLING")


@dataclass(frozen=True)
class ClaimRequest:
    """What an agent asks for: up to ``limit`` runs of ``queues`` (and of every queue whose name
    starts with ``match``) due within ``prefetch_seconds``, for ``agent_id``."""

    queues: Sequence[str]
    limit: int
    agent_id: UUID
    prefetch_seconds: float = 0.0
    match: str | None = None


@runtime_checkable
class QueueBackend(Protocol):
    """Claims ready flow runs for agents, honouring pause and concurrency limits.

    Constructed as ``cls(database, settings)`` (a ``sluice.server.database.engine.Database`` and the
    server's ``Settings``); one instance serves every request of an app, from several threads.
    """

    slug: ClassVar[str]

    def claim_runs(self, request: ClaimRequest, build_answer: Callable[[Any], Any] | None = None) -> list[Any]:
        """Atomically move up to ``request.limit`` SCHEDULED runs of the requested queues whose
        expected start time is at most now + ``prefetch_seconds`` to PENDING for the agent (with a
        state-history row), and return them (flow-run rows, or objects with their attributes).

        ``build_answer`` (the server passes it) must be called inside the claim's transaction, once
        per run about to be claimed, with the run as it will be once claimed (PENDING, the agent's
        id set); the list of what it returned is then returned instead of the runs. A run for which
        it raises must not be left PENDING: end it CRASHED with the error in its message (it cannot
        be read, so no agent could start it) and go on with the others. Any other error rolls the
        whole claim back. This way no failure after the commit strands runs that no agent received.

        Paused queues hand out nothing; runs waiting for an in-place retry (``AwaitingRetry``) are
        left to the engine that holds them. Queue and deployment concurrency limits (runs
        PENDING, RUNNING or CANCELLING) are enforced in the same transaction, so two agents never
        claim one run and no limit is ever exceeded: runs over a limit stay SCHEDULED. Blocking;
        the server calls it in a worker thread.
        """
        ...

    def work_version(self) -> int:
        """A number that changes whenever there may be new work (a run was created or rescheduled,
        a run ended, a queue or deployment changed)."""
        ...

    async def wait_for_work(self, request: ClaimRequest, timeout: float, since: int | None = None) -> None:
        """Return as soon as there may be work for the request's queues — ``work_version()`` moved
        past ``since``, or a known SCHEDULED run becomes due — or after ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Stop any listener thread or connection the backend started."""
        ...


def get_queue_backend_class(slug: str) -> type[Any]:
    """The queue backend class registered under ``slug`` (``UnknownSlugError`` names the package)."""
    from sluice.plugins import get_registry

    return get_registry("queue_backend").get(slug)
