"""``RedisQueueBackend``: claims picked in Redis, confirmed in the database.

A claim:

1. ``TAKE`` (one Lua script) reserves up to ``limit`` ready runs of the unpaused queues due by
   now + prefetch, oldest first, skipping runs of full queues and deployments, and marks them
   active — so no other claim, on any replica, can take them or their slots;
2. the store moves them to PENDING in one short transaction, each only if it is still claimable
   (``move_to_pending_if_scheduled``), building the answers inside it;
3. runs the database refused are corrected in Redis from what the database now says (their slots
   freed unless they are active after all); if the database step failed, the reservations are
   released.

The index follows the store's change feed: after each commit of this process the runs it changed
are read back and written to Redis in the committing thread, before the request answers, and the
replicas' long polls are woken through pub/sub. It is rebuilt from the database on the first claim
of each process, after a Redis restart or flush, when a change could not be followed, and every
``SLUICE_REDIS_RECONCILE_SECONDS``. Records carry the run's state time, so an older observation
never overwrites a newer one, and a rebuild never overwrites what was written since it began.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from sluice.queues import (
    BuildAnswer,
    ClaimRequest,
    QueueBackend,
    QueuedRun,
    QueueServiceUnavailable,
    QueueStore,
    WorkChanges,
    WorkQueue,
)
from sluice_queue_redis.index import CONFIG, RECONCILE, WORK, RedisIndex, observation
from sluice_queue_redis.settings import RedisQueueSettings
from sluice_queue_redis.wakeups import Rebuilder, WakeListener

logger = logging.getLogger("sluice.queue_redis")

#: How often a claim records that its queues were polled, at most.
POLLED_EVERY = 5.0
#: Runs read from the database per page while rebuilding.
PAGE = 1000
#: How long a done run's record is kept, so that an older observation of it arriving late is ignored.
TOMBSTONE_AGE = timedelta(minutes=10)
#: How long a claim waits for another replica to finish building an empty index.
BUILD_WAIT = 60.0


class RedisQueueBackend(QueueBackend):
    """The ``redis`` queue backend (see the module). Settings: ``SLUICE_REDIS_URL``,
    ``SLUICE_REDIS_KEY_PREFIX``, ``SLUICE_REDIS_RECONCILE_SECONDS``."""

    slug: ClassVar[str] = "redis"
    #: Replicas wake each other through Redis, not through the database.
    hears_other_processes: ClassVar[bool] = False

    def __init__(self, store: QueueStore, settings: Any = None) -> None:
        self.options = RedisQueueSettings()
        self.index = RedisIndex(self.options.url, self.options.key_prefix, self.options.socket_timeout)
        self.token = uuid.uuid4().hex  # tags this backend's messages, so it skips its own echoes
        self._queues: list[WorkQueue] | None = None
        self._started = False
        self._start_lock = threading.Lock()
        self._polled: dict[str, float] = {}
        self.listener = WakeListener(self)
        self.rebuilder = Rebuilder(self, self.options.reconcile_seconds)
        super().__init__(store, settings)

    # -- claims --------------------------------------------------------------------------------

    def claim_runs(self, request: ClaimRequest, build_answer: BuildAnswer | None = None) -> list[Any]:
        """Claim up to ``request.limit`` due runs for the agent (see the module)."""
        if request.limit <= 0:
            return []
        self.start()
        now = time.time()
        horizon = now + max(0.0, request.prefetch_seconds)
        taken = self.index.take(request.queues, request.match, horizon, now, request.limit)
        if taken.unbuilt:  # a new, restarted or flushed Redis: build the index first
            self.rebuild(wait=True)
            taken = self.index.take(request.queues, request.match, horizon, now, request.limit)
        self._record_polled(taken.polled)
        if not taken.runs:
            return []
        try:
            result = self.store.move_to_pending_if_scheduled(
                [run_id for run_id, _ in taken.runs], request.agent_id, build_answer
            )
        except BaseException:
            self._release(taken.runs)
            raise
        if result.refused:
            self._correct(result.refused, dict(taken.runs))
        return result.answers

    def _release(self, taken: Sequence[tuple[UUID, str]]) -> None:
        try:
            self.index.release(taken)
        except Exception:
            logger.exception("could not put back runs a failed claim reserved; the next rebuild does")

    def _correct(self, refused: dict[UUID, QueuedRun | None], stamps: dict[UUID, str]) -> None:
        """Write what the database now says about runs it refused to move; their slots are free
        unless they are active after all."""
        with self.store.snapshot() as reads:
            now = reads.read_runs(refused, self._all_queues())
        observations = []
        for run_id, when_refused in refused.items():
            current = now.get(run_id)
            seen = observation(run_id, current, stamp=stamps.get(run_id))
            if (
                current is not None
                and current.is_claimable
                and when_refused is not None
                and when_refused.state_timestamp == current.state_timestamp
            ):
                seen["s"] = "D"  # claimable yet refused: past its deadline, for the late-runs service
            observations.append(seen)
        self.index.apply(observations, mode="compensate")
        self._announce(WORK)

    def _record_polled(self, names: Iterable[str]) -> None:
        now = time.monotonic()
        stale = [name for name in names if now - self._polled.get(name, -1e9) >= POLLED_EVERY]
        if stale:
            self._polled.update({name: now for name in stale})
            self.store.record_polled(stale)

    # -- waiting -------------------------------------------------------------------------------

    async def wait_for_work(self, request: ClaimRequest, timeout: float, since: int | None = None) -> None:
        """Return at once if a claim would take a run now; else wait for a wake-up through Redis (or
        this process's feed), for the next ready run to come due, or ``timeout``."""
        if timeout <= 0:
            return
        try:
            claimable, due = await asyncio.to_thread(self._look, request)
        except QueueServiceUnavailable as exc:
            logger.warning("%s", exc)
            claimable, due, timeout = False, None, min(timeout, 1.0)  # the next claim reports it
        if claimable:
            return
        if due is not None:
            timeout = min(timeout, max(0.0, due - request.prefetch_seconds - time.time()) + 0.005)
        await self.wait_for_signal(timeout, since)

    def _look(self, request: ClaimRequest) -> tuple[bool, float | None]:
        self.start()
        now = time.time()
        return self.index.look(request.queues, request.match, now + max(0.0, request.prefetch_seconds), now)

    def next_due_time(self, request: ClaimRequest) -> datetime | None:
        """When the next ready run of the request's queues comes due, from the index."""
        now = time.time()
        _, due = self.index.look(request.queues, request.match, now + max(0.0, request.prefetch_seconds), now)
        return None if due is None else datetime.fromtimestamp(due, UTC)

    # -- following the database ----------------------------------------------------------------

    def on_changes(self, changes: WorkChanges) -> None:
        """Write the runs, queues and deployments this process's commit changed to Redis, then wake
        every replica's long polls (called after the commit, in the committing thread)."""
        if not changes.local:
            return
        try:
            if changes.queues_changed or changes.deployments_changed:
                self._configure(changes.deployments_changed)
            if not changes.complete:
                self.request_rebuild()
            if changes.runs:
                self.observe(changes.runs)
        except Exception as exc:  # the commit happened: never fail it; the next rebuild catches up
            logger.warning(
                "the Redis queue index missed a change (%s); the servers rebuild it from the database within %gs",
                exc,
                self.options.reconcile_seconds,
            )
            self.work_signal.notify()
            return
        if changes.may_have_work:
            self.work_signal.notify()
            self._announce(WORK)

    def observe(self, run_ids: Iterable[UUID]) -> None:
        """Read these runs from the database and write them to the index."""
        ids = list(run_ids)
        with self.store.snapshot() as reads:
            found = reads.read_runs(ids, self._all_queues())
        self.index.apply([observation(run_id, found.get(run_id)) for run_id in ids])

    def _configure(self, deployments_changed: bool) -> None:
        """Copy the queues' settings and the deployments' limits to Redis; a change that may move runs
        between legacy tag queues asks for a rebuild."""
        with self.store.snapshot() as reads:
            queues = reads.queues()
            limits = reads.deployment_limits()
        before = self._queues
        self.index.configure(queues, limits)
        self._queues = queues
        filters = {queue.name: queue.filter for queue in queues if queue.filter}
        if filters and (deployments_changed or before is None or filters != {q.name: q.filter for q in before}):
            self.request_rebuild()
        self._announce(CONFIG)

    def _all_queues(self) -> list[WorkQueue]:
        """Every queue (which legacy tag queues hand a run out), read once and again after changes."""
        queues = self._queues
        if queues is None:
            with self.store.snapshot() as reads:
                queues = self._queues = reads.queues()
        return queues

    def forget_queues(self) -> None:
        """Read the queues again next time (another replica changed them)."""
        self._queues = None

    def _announce(self, kind: str) -> None:
        try:
            self.index.publish(f"{kind} {self.token}")
        except QueueServiceUnavailable as exc:
            logger.warning("%s", exc)

    # -- rebuilding ----------------------------------------------------------------------------

    def start(self) -> None:
        """On the first claim or wait of this process: build the index from the database and start
        the listener and rebuilder threads."""
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                self.rebuild(wait=True)
                self.listener.ensure_started()
                self.rebuilder.ensure_started()
                self._started = True

    def request_rebuild(self) -> None:
        """Have the index rebuilt soon, by whichever replica's rebuilder hears first."""
        self.rebuilder.trigger()
        self._announce(RECONCILE)

    def rebuild(self, wait: bool = False) -> bool:
        """Rebuild the index from the database unless another replica is at it (then, with ``wait``,
        wait until the index is built). True when this call rebuilt it."""
        owner = f"{self.token}-{uuid.uuid4().hex}"
        if not self.index.try_lock(owner, seconds=300):
            if wait:
                deadline = time.monotonic() + BUILD_WAIT
                while not self.index.is_built() and time.monotonic() < deadline:
                    time.sleep(0.05)  # another replica is building it: a claim cannot go on before
            return False
        try:
            self._rebuild()
        finally:
            self.index.unlock(owner)
        self._announce(CONFIG)
        self.work_signal.notify()
        return True

    def _rebuild(self) -> None:
        started = self.index.now()
        with self.store.snapshot() as reads:
            queues = reads.queues()
            limits = reads.deployment_limits()
        self.index.configure(queues, limits)
        self._queues = queues
        seen: set[str] = set()
        for read in ("active_runs", "claimable_runs"):
            after = None
            while True:
                with self.store.snapshot() as reads:
                    page = getattr(reads, read)(queues, after=after, limit=PAGE)
                self.index.apply([observation(run.id, run) for run in page], mode="reconcile", started=started)
                seen.update(str(run.id) for run in page)
                if len(page) < PAGE:
                    break
                after = page[-1].id
        self.index.sweep([run_id for run_id in self.index.record_ids() if run_id not in seen], started)
        self.index.clean_sets()
        self.index.prune(TOMBSTONE_AGE)
        self.index.mark_built()
        logger.info("rebuilt the Redis queue index: %d runs ready or active", len(seen))

    def close(self) -> None:
        """Stop the threads, stop following the database, close the Redis connections."""
        super().close()
        self.listener.close()
        self.rebuilder.close()
        self.index.close()
