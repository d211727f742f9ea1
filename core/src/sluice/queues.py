"""Queue backends: how agents claim runs from work queues. The whole contract for backend authors.

A backend is a class registered by a plugin through ``register_queue_backends`` under a ``slug``
(``SLUICE_QUEUE_BACKEND`` picks one; the default is ``sql``). Each API server process makes one
instance per database with ``cls(store, settings)`` when its app is built: ``store`` is a
``QueueStore``, the narrow view of the database a backend works through, and ``settings`` the
server's ``sluice.settings.Settings``. The server calls it from ``POST /api/work_queues/claim``:

1. ``version = backend.work_version()``
2. ``answers = backend.claim_runs(request, build_answer=...)`` in a worker thread; if it claimed
   runs, answer with them;
3. otherwise ``await backend.wait_for_work(request, remaining, since=version)`` and go back to 2
   until the long poll's time is up.

Taking the version *before* the claim means a run created between the claim and the wait is never
missed: the wait returns at once because the version moved.

What is public here (and documented in docs/plugins.md): ``QueueBackend`` (the base class),
``ClaimRequest``, ``QueueStore`` with ``QueueReads`` and ``ClaimTransaction``, the data types
``WorkQueue``, ``QueuedRun``, ``ClaimResult`` and ``WorkChanges``, ``WorkSignal``, ``BuildAnswer``, the errors
``ClaimConflict`` and ``QueueServiceUnavailable``, ``queues_handing_out`` and the constants
``ACTIVE_STATE_TYPES`` and ``RETRY_STATE_NAME``. Anything underscored is not.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable
from uuid import UUID

from sluice.errors import SluiceError

#: State types that hold a concurrency slot: a run counts against its queue's and its deployment's
#: limit from the claim until it ends.
ACTIVE_STATE_TYPES = ("PENDING", "RUNNING", "CANCELLING")
#: The name of a SCHEDULED run waiting for an in-place retry: the engine that holds it runs it again,
#: so no claim may hand it out.
RETRY_STATE_NAME = "AwaitingRetry"

#: What ``build_answer`` receives and returns: a flow-run row (an object with the flow-run columns as
#: attributes) as it will be once claimed, and whatever the server wants to send the agent.
BuildAnswer = Callable[[Any], Any]


class ClaimConflict(SluiceError):
    """A claim transaction lost a race it cannot wait out (PostgreSQL: a deadlock or a serialization
    failure) and was rolled back: nothing it did remains. Try the claim again."""


class QueueServiceUnavailable(SluiceError):
    """A service the backend claims through (e.g. Redis) cannot be reached now; the claim endpoint
    answers 503 with ``Retry-After`` and agents try again."""


@dataclass(frozen=True)
class ClaimRequest:
    """What an agent asks for: up to ``limit`` runs of ``queues`` (and of every queue whose name
    starts with ``match``) due within ``prefetch_seconds``, for ``agent_id``."""

    queues: Sequence[str]
    limit: int
    agent_id: UUID
    prefetch_seconds: float = 0.0
    match: str | None = None


@dataclass(frozen=True)
class WorkQueue:
    """A work queue's settings, as a claim needs them.

    ``filter`` is set on a legacy tag queue: it hands out the runs of every deployment that has all
    of these tags, whichever queue the run is in.
    """

    id: UUID
    name: str
    is_paused: bool = False
    concurrency_limit: int | None = None
    filter: tuple[str, ...] | None = None
    last_polled: datetime | None = None


@dataclass(frozen=True)
class QueuedRun:
    """What a backend knows of a flow run.

    ``queues`` are the names, among the queues given to the read that returned it, of those that
    hand this run out (its own queue, and legacy tag queues whose tags its deployment has).
    ``deadline`` is the last instant a claim may start it (its deployment's ``max_lateness``), or
    None. ``state_timestamp`` grows with every state change of the run: a backend that caches runs
    can tell a newer observation from an older one.
    """

    id: UUID
    state_type: str | None
    state_name: str | None
    state_timestamp: datetime | None
    work_queue_name: str | None
    deployment_id: UUID | None
    expected_start_time: datetime | None
    deadline: datetime | None = None
    queues: tuple[str, ...] = ()

    @property
    def is_claimable(self) -> bool:
        """SCHEDULED and not waiting for an in-place retry: a claim may hand it out once due."""
        return self.state_type == "SCHEDULED" and self.state_name != RETRY_STATE_NAME

    @property
    def is_active(self) -> bool:
        """PENDING, RUNNING or CANCELLING: it holds a slot of its queues' and deployment's limits."""
        return self.state_type in ACTIVE_STATE_TYPES

    def too_late(self, now: datetime) -> bool:
        """Whether a claim at ``now`` is past the run's deadline (it must not start; the late-runs
        service cancels it)."""
        return self.deadline is not None and now > self.deadline


@dataclass
class ClaimResult:
    """What a move to PENDING did.

    ``answers``: what ``build_answer`` returned for each run claimed, in order (the flow-run rows
    themselves without ``build_answer``). ``claimed``: their ids. ``refused``: the runs left as they
    are, each with its state now (None: it no longer exists) — no longer SCHEDULED, waiting for a
    retry, past its deadline, or ended CRASHED because its answer could not be built.
    """

    answers: list[Any] = field(default_factory=list)
    claimed: list[UUID] = field(default_factory=list)
    refused: dict[UUID, QueuedRun | None] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkChanges:
    """What one committed transaction changed, as the store's change feed reports it.

    ``runs``: runs created, deleted or whose state changed. ``may_have_work``: a run became SCHEDULED
    or ended (a slot is free), or a queue or deployment changed: a waiting claim should look again.
    ``complete`` is False when the feed cannot name everything that changed (another process's
    commit, a bulk statement, a reconnect): a backend that keeps its own index should re-read it.
    ``local``: committed by this process (else heard from another process or replica).
    """

    runs: frozenset[UUID] = frozenset()
    queues_changed: bool = False
    deployments_changed: bool = False
    may_have_work: bool = False
    complete: bool = True
    local: bool = True


def queues_handing_out(
    work_queue_name: str | None, deployment_tags: Iterable[str] | None, queues: Iterable[WorkQueue]
) -> tuple[str, ...]:
    """The names of the ``queues`` that hand out a run of ``work_queue_name`` whose deployment has
    ``deployment_tags``: its own queue, then legacy tag queues whose tags are all among them."""
    tags = set(deployment_tags or ())
    named = [queue.name for queue in queues if not queue.filter and queue.name == work_queue_name]
    tagged = [queue.name for queue in queues if queue.filter and tags and set(queue.filter) <= tags]
    return (*named, *tagged)


@runtime_checkable
class QueueReads(Protocol):
    """Reads a backend makes. In a ``store.snapshot()`` they take no lock; in a
    ``store.claim_transaction()`` they lock what a claim must hold (see ``ClaimTransaction``)."""

    def queues(self, request: ClaimRequest | None = None) -> list[WorkQueue]:
        """The queues a request names (by name, and by ``match`` prefix), in id order; every queue
        without a request."""
        ...

    def due_runs(
        self, queues: Sequence[WorkQueue], horizon: datetime, limit: int, skip_full_deployments: bool = True
    ) -> list[QueuedRun]:
        """Up to ``limit`` claimable runs of ``queues`` expected to start by ``horizon``, oldest
        first; by default not those of deployments at their concurrency limit."""
        ...

    def has_due_runs(self, queues: Sequence[WorkQueue], horizon: datetime) -> bool:
        """Whether any claimable run of the unpaused ``queues`` is expected to start by ``horizon``,
        limits aside: a cheap look before taking a claim's locks."""
        ...

    def claimable_runs(
        self, queues: Sequence[WorkQueue], after: UUID | None = None, limit: int = 1000
    ) -> list[QueuedRun]:
        """Every claimable run of ``queues``, due or not, by id, ``limit`` at a time: pass the last id
        as ``after`` for the next page (for a backend that indexes runs itself)."""
        ...

    def active_runs(self, queues: Sequence[WorkQueue], after: UUID | None = None, limit: int = 1000) -> list[QueuedRun]:
        """Every PENDING, RUNNING or CANCELLING run, by id, a page at a time as ``claimable_runs``
        (``queues`` only say which names to put in each run's ``queues``)."""
        ...

    def read_runs(self, run_ids: Iterable[UUID], queues: Sequence[WorkQueue]) -> dict[UUID, QueuedRun]:
        """The runs with these ids that exist, by id."""
        ...

    def active_counts(self, queues: Sequence[WorkQueue]) -> dict[str, int]:
        """How many runs each queue has PENDING, RUNNING or CANCELLING, by queue name."""
        ...

    def deployment_limits(self, deployment_ids: Iterable[UUID] | None = None) -> dict[UUID, int]:
        """The concurrency limit of each of these deployments that has one (every limited deployment
        for None)."""
        ...

    def deployment_active_counts(self, deployment_ids: Iterable[UUID]) -> dict[UUID, int]:
        """How many runs each deployment has PENDING, RUNNING or CANCELLING."""
        ...

    def has_deployment_limits(self) -> bool:
        """Whether any deployment has a concurrency limit."""
        ...

    def next_due_time(self, queues: Sequence[WorkQueue], after: datetime) -> datetime | None:
        """The earliest expected start time after ``after`` among the claimable runs of the unpaused
        ``queues``: when the next run not yet due comes due."""
        ...


@runtime_checkable
class ClaimTransaction(QueueReads, Protocol):
    """One claim's database transaction, committed when its ``with`` block ends without an error and
    rolled back otherwise (``ClaimConflict`` when it lost a race: try again).

    SQLite: ``BEGIN IMMEDIATE``, so claims (and every other write) run one at a time. PostgreSQL:
    ``queues`` locks the unpaused queues that have a limit and ``deployment_limits`` the limited
    deployments (``FOR NO KEY UPDATE``, in id order), so two claims never both count a free slot;
    ``due_runs`` locks the runs it returns with ``SKIP LOCKED``, so concurrent claims take different
    runs without waiting.
    """

    def move_to_pending(
        self, runs: Sequence[QueuedRun], agent_id: UUID, build_answer: BuildAnswer | None = None
    ) -> ClaimResult:
        """Set ``runs`` (returned by ``due_runs`` in this transaction) PENDING for ``agent_id``, each
        with a state-history row, and build their answers here, inside the transaction.

        Runs past their deadline are refused and stay SCHEDULED. A run for which ``build_answer``
        raises is ended CRASHED with the error in its message (no agent could read it) and refused;
        the others are claimed.
        """
        ...

    def record_polled(self, queues: Sequence[WorkQueue]) -> None:
        """Record that agents polled ``queues`` (``last_polled``; written every few seconds at most)."""
        ...


@runtime_checkable
class QueueStore(Protocol):
    """The database work a queue backend needs, and nothing else. The server makes one per database
    and hands it to the backend; it is safe to use from several threads."""

    def snapshot(self) -> AbstractContextManager[QueueReads]:
        """A read-only transaction: consistent reads that lock nothing and wait for no writer."""
        ...

    def claim_transaction(self) -> AbstractContextManager[ClaimTransaction]:
        """A claim's transaction: locked reads and the move to PENDING, committed together."""
        ...

    def move_to_pending_if_scheduled(
        self, run_ids: Sequence[UUID], agent_id: UUID, build_answer: BuildAnswer | None = None
    ) -> ClaimResult:
        """In a short transaction of its own, set PENDING for ``agent_id`` those of ``run_ids`` that
        are still claimable and not past their deadline (with a state-history row each, answers built
        inside the transaction as ``ClaimTransaction.move_to_pending``); refuse the others.

        The conditional step for a backend that decides elsewhere which runs to hand out: whatever
        its index says, a run leaves SCHEDULED once only. Concurrency limits are the backend's to
        enforce.
        """
        ...

    def record_polled(self, queue_names: Sequence[str]) -> None:
        """Record that agents polled these queues, in a short transaction (at most every few seconds
        per queue and process: calling it on every claim costs nothing)."""
        ...

    def subscribe(self, callback: Callable[[WorkChanges], None], other_processes: bool = False) -> Callable[[], None]:
        """Call ``callback(changes)`` after every commit on this database that created, deleted or
        changed the state of a run, or changed a queue or a deployment; returns a function that
        unsubscribes.

        Changes committed by this process are reported in the committing thread, right after the
        commit (so keep the callback short, and never raise). With ``other_processes``, changes
        committed by other processes are reported too, from a listener thread, while someone is
        inside ``hearing_other_processes()``: on PostgreSQL through ``LISTEN/NOTIFY`` (those that
        ``may_have_work``), on SQLite through the file's data version (``complete`` False). The
        store's own writes (a claim's move to PENDING, ``record_polled``) are not reported.
        """
        ...

    def hearing_other_processes(self) -> AbstractContextManager[None]:
        """Keep the listener for other processes' changes running (started on first need) while
        inside; wrap a long poll's wait in it."""
        ...


class WorkSignal:
    """A version number and the coroutines waiting for it to move, safe across threads and event
    loops: the wake-up half of a long poll."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._waiters: set[tuple[Any, Any]] = set()

    @property
    def version(self) -> int:
        """Changes on every ``notify``."""
        return self._version

    @property
    def waiting(self) -> int:
        """How many coroutines are waiting now."""
        return len(self._waiters)

    def notify(self) -> None:
        """Move the version and wake every waiter (from any thread)."""
        with self._lock:
            self._version += 1
            waiters = list(self._waiters)
        for loop, woken in waiters:
            try:
                loop.call_soon_threadsafe(woken.set)
            except RuntimeError:  # that loop is closed: its waiter is gone
                pass

    async def wait(self, timeout: float, since: int | None = None) -> None:
        """Return at the next ``notify`` (at once if the version already moved past ``since``) or after
        ``timeout`` seconds."""
        import asyncio

        woken = asyncio.Event()
        entry = (asyncio.get_running_loop(), woken)
        with self._lock:
            if since is not None and since != self._version:
                return
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(woken.wait(), timeout=max(0.0, timeout))
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)


class QueueBackend(ABC):
    """Base class of queue backends: claims ready flow runs for agents, honouring pause and
    concurrency limits.

    Made as ``cls(store, settings)``; one instance serves every request of an app, from several
    threads. Subclasses implement ``claim_runs``. The rest works as given: the backend subscribes to
    the store's change feed (``on_changes``; with ``hears_other_processes``, other processes' and
    replicas' changes too) and wakes ``work_signal`` whenever there may be new work, and
    ``wait_for_work`` waits for that signal or for the next known run to come due.
    """

    slug: ClassVar[str]
    #: Subscribe to changes committed by other processes and replicas too (the store's listener).
    hears_other_processes: ClassVar[bool] = True

    def __init__(self, store: QueueStore, settings: Any = None) -> None:
        self.store = store
        self.settings = settings
        self.work_signal = WorkSignal()
        self._unsubscribe = store.subscribe(self.on_changes, other_processes=self.hears_other_processes)

    @abstractmethod
    def claim_runs(self, request: ClaimRequest, build_answer: BuildAnswer | None = None) -> list[Any]:
        """Atomically move up to ``request.limit`` claimable runs of the requested queues whose
        expected start time is at most now + ``prefetch_seconds`` to PENDING for the agent (with a
        state-history row), and return them (the answers ``build_answer`` built, else the rows).

        ``build_answer`` (the server passes it) must be called inside the transaction that moves the
        runs, once per run, with the run as it will be once claimed: the store's ``move_to_pending``
        and ``move_to_pending_if_scheduled`` do it. A run for which it raises is ended CRASHED, not
        left PENDING; the others are claimed. Paused queues hand out nothing; runs waiting for an
        in-place retry are left alone; runs past their deadline are not started; queue and
        deployment concurrency limits (runs PENDING, RUNNING or CANCELLING) are never exceeded,
        whatever the interleaving of claims and replicas: runs over a limit stay SCHEDULED. Blocking;
        the server calls it in a worker thread.
        """

    def work_version(self) -> int:
        """A number that changes whenever there may be new work (a run was created or rescheduled,
        a run ended, a queue or deployment changed)."""
        return self.work_signal.version

    def on_changes(self, changes: WorkChanges) -> None:
        """Called by the store's change feed after each commit that changed runs, queues or
        deployments; wakes the waiting claims when there may be new work."""
        if changes.may_have_work:
            self.work_signal.notify()

    async def wait_for_work(self, request: ClaimRequest, timeout: float, since: int | None = None) -> None:
        """Return as soon as there may be work for the request's queues — ``work_version()`` moved
        past ``since``, or the next known run of the queues comes due (``next_due_time``) — or after
        ``timeout`` seconds.

        A backend that can tell whether a claim would take a run right now should check that first
        and return at once: a run that came due between the caller's claim and this wait is
        announced by no change (the ``sql`` backend does).
        """
        if timeout <= 0:
            return
        import asyncio
        from datetime import UTC, datetime, timedelta

        due = await asyncio.to_thread(self.next_due_time, request)
        if due is not None:
            wake_in = (due - timedelta(seconds=request.prefetch_seconds) - datetime.now(UTC)).total_seconds()
            timeout = min(timeout, max(0.0, wake_in) + 0.005)
        await self.wait_for_signal(timeout, since)

    def next_due_time(self, request: ClaimRequest) -> datetime | None:
        """When the next claimable run of the request's queues not yet due (by now + prefetch) comes
        due, or None; read from the store (blocking)."""
        from datetime import UTC, timedelta

        horizon = datetime.now(UTC) + timedelta(seconds=max(0.0, request.prefetch_seconds))
        with self.store.snapshot() as reads:
            return reads.next_due_time(reads.queues(request), after=horizon)

    async def wait_for_signal(self, timeout: float, since: int | None = None) -> None:
        """Wait until ``work_signal`` moves past ``since`` or ``timeout`` seconds pass, hearing other
        processes' changes meanwhile when ``hears_other_processes``."""
        if self.hears_other_processes:
            with self.store.hearing_other_processes():
                await self.work_signal.wait(timeout, since)
        else:
            await self.work_signal.wait(timeout, since)

    def close(self) -> None:
        """Stop hearing of changes; subclasses also stop the threads and connections they started."""
        self._unsubscribe()
