"""The contract kit for queue backends: the tests every queue backend must pass.

Subclass ``QueueBackendContract`` in a test module of your plugin and give it your backend's slug
and the plugin that registers it; pytest then runs every ``test_*`` of the kit against a real API
app whose claims go through your backend::

    import pytest
    from sluice.testing.queue_backends import QueueBackendContract

    import my_queue_plugin


    class TestMyBackend(QueueBackendContract):
        backend_slug = "mine"

        @pytest.fixture
        def queue_backend_plugin(self):
            return my_queue_plugin  # the module (or object) with the register_queue_backends hookimpl

By default each test gets a fresh SQLite database in its temporary folder. Override the
``queue_contract_database_url`` fixture to run on PostgreSQL, and ``queue_backend_environment`` to
set the environment your backend reads (e.g. a key prefix of its own per test); clean up whatever it
keeps outside the database in your own fixture.

The kit checks, through the same ``POST /api/work_queues/claim`` agents use: a claim moves due runs
to PENDING for the agent; racing claimers take every run exactly once; a queue's and a deployment's
concurrency limits are never exceeded and a full deployment hides no other runs; pause; long polls
woken by a new run, a freed slot, a run coming due and another replica's new run; prefetch; runs
waiting for an in-place retry and runs past ``max_lateness`` are left alone; an answer that cannot be
built ends its run CRASHED without holding up the others; legacy tag queues, ``match`` and
``last_polled``. Nothing is mocked: runs are "executed" by a stand-in engine that sets RUNNING,
writes a file named after the run with ``O_EXCL`` (a second execution fails loudly) and sets
COMPLETED; limits are checked on the state histories.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

#: The queue every test's runs are in.
QUEUE = "contract-queue"
#: Seconds a test waits for something that should happen at once; a long poll waits longer
#: (``LONG_POLL``), so a wake-up that never comes fails the test instead of ending the poll.
DEADLINE = 30.0
LONG_POLL = 60.0


def wait_until(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class QueueWorld:
    """What each contract test gets: a real app on the backend under test, a client, a deployment
    on ``QUEUE`` and a folder for the stand-in engine's side effects."""

    app: Any
    client: Any
    settings: Any
    backend: Any
    store: Any
    flow: Any
    deployment: Any
    side_effects: Path

    def runs(self, count: int, deployment: Any = None, **fields: Any) -> list[Any]:
        """Create ``count`` runs of the deployment (due now unless ``state`` says otherwise)."""
        deployment = deployment or self.deployment
        return [self.client.create_flow_run_from_deployment(deployment.id, **fields) for _ in range(count)]

    def claim(self, agent_id: Any = None, limit: int = 10, queue: str = QUEUE, **options: Any) -> list[Any]:
        """``POST /api/work_queues/claim`` for ``queue``."""
        return self.client.claim_flow_runs([queue], agent_id or uuid.uuid4(), limit=limit, **options)

    def execute(self, run: Any) -> None:
        """The stand-in engine: RUNNING, one side effect keyed by the run id, COMPLETED."""
        result = self.client.set_flow_run_state(run.id, "RUNNING")
        assert result.status == "ACCEPT", result.reason
        os.close(os.open(self.side_effects / str(run.id), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        self.client.read_flow_run(run.id)  # some work while the run holds its slot
        assert self.client.set_flow_run_state(run.id, "COMPLETED").status == "ACCEPT"

    def drain(self, batch: int = 5) -> Callable[[uuid.UUID], None]:
        """An agent loop: claim and execute until a claim comes back empty and nothing is left."""

        def work(agent_id: uuid.UUID) -> None:
            while True:
                runs = self.claim(agent_id, limit=batch)
                for run in runs:
                    self.execute(run)
                if not runs and not self.client.filter_flow_runs(
                    work_queue_names=[QUEUE], state_types=["SCHEDULED", "PENDING"], limit=1
                ):
                    return

        return work

    def max_active(self, runs: list[Any]) -> int:
        """The most runs active (PENDING until final) at one instant, from the state histories."""
        events: list[tuple[datetime, int]] = []
        for run in runs:
            history = self.client.read_flow_run_states(run.id)
            events.append((next(entry.timestamp for entry in history if entry.type.value == "PENDING"), 1))
            events.append((next(entry.timestamp for entry in history if entry.type.value == "COMPLETED"), -1))
        active = peak = 0
        for _, change in sorted(events):  # ends (-1) sort before starts (+1) at equal times
            active += change
            peak = max(peak, active)
        return peak

    def state_of(self, run: Any) -> str:
        """The run's state type now."""
        return self.client.read_flow_run(run.id).state.type.value


def in_threads(count: int, work: Callable[[uuid.UUID], None]) -> None:
    """Run ``work(agent_id)`` in ``count`` threads, each a different agent; re-raise the first error."""
    errors: list[BaseException] = []

    def target(agent_id: uuid.UUID) -> None:
        try:
            work(agent_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(uuid.uuid4(),)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class Background:
    """A call running in a thread of its own: ``result()`` waits for it (with a deadline)."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._value: list[Any] = []
        self._error: list[BaseException] = []

        def target() -> None:
            try:
                self._value.append(call())
            except BaseException as exc:
                self._error.append(exc)

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def result(self, what: str, timeout: float = DEADLINE) -> Any:
        """The call's return value, once it returned; an ``AssertionError`` naming ``what`` if it is
        still running after ``timeout`` seconds."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        if self._error:
            raise self._error[0]
        return self._value[0]


def wait_for_a_waiter(backend: Any) -> None:
    """Wait until a long poll waits on ``backend`` (a ``QueueBackend``'s ``work_signal``), so that what
    the test does next has to wake it."""
    signal = getattr(backend, "work_signal", None)
    if signal is not None:
        wait_until(lambda: signal.waiting, "a long poll to wait")


class QueueBackendContract:
    """The queue-backend contract: subclass it with ``backend_slug`` and a ``queue_backend_plugin``
    fixture (see the module)."""

    #: The slug your backend is registered under.
    backend_slug: ClassVar[str]

    @pytest.fixture
    def queue_backend_plugin(self) -> Any:
        """The plugin that registers the backend under test (override it)."""
        pytest.fail("override the queue_backend_plugin fixture: return the plugin that registers your backend")

    @pytest.fixture
    def queue_backend_environment(self) -> dict[str, str]:
        """Environment variables set while the app and its backend are made (override it)."""
        return {}

    @pytest.fixture
    def queue_contract_database_url(self, tmp_path: Path) -> str:
        """The database of the test: a fresh SQLite file (override it for PostgreSQL; it must be
        empty and may be shared between tests)."""
        return f"sqlite:///{tmp_path / 'contract' / 'sluice.db'}"

    @pytest.fixture
    def queue_world(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        sluice_plugin_manager: Any,
        queue_backend_plugin: Any,
        queue_backend_environment: dict[str, str],
        queue_contract_database_url: str,
    ) -> Iterator[QueueWorld]:
        """A real API app (no background services) whose claims go through the backend under test."""
        from sluice.client import SluiceClient
        from sluice.embedded import EmbeddedTransport
        from sluice.server.app import create_app
        from sluice.server.database.engine import get_database
        from sluice.server.database.migrate import upgrade_database
        from sluice.server.queue_backend import forget_queue_backend
        from sluice.settings import Settings

        for name, value in queue_backend_environment.items():
            monkeypatch.setenv(name, value)
        sluice_plugin_manager.register(queue_backend_plugin, name=f"queue-backend-{self.backend_slug}")
        home = tmp_path / "contract-home"
        settings = Settings(home=home, database_url=queue_contract_database_url, queue_backend=self.backend_slug)
        database = get_database(settings.effective_database_url, settings)
        upgrade_database(database)
        app = create_app(settings, run_services=False)
        assert app.state.queue_backend is not None, app.state.queue_backend_error
        side_effects = tmp_path / "side-effects"
        side_effects.mkdir()
        try:
            with SluiceClient(settings=settings, transport=EmbeddedTransport(app, timeout=120)) as client:
                flow = client.create_flow("contract")
                deployment = client.create_deployment(
                    "nightly", flow.id, tags=["etl", "nightly"], work_queue_name=QUEUE
                )
                yield QueueWorld(
                    app=app,
                    client=client,
                    settings=settings,
                    backend=app.state.queue_backend,
                    store=app.state.queue_store,
                    flow=flow,
                    deployment=deployment,
                    side_effects=side_effects,
                )
        finally:
            forget_queue_backend(database, self.backend_slug)
            if str(tmp_path) in queue_contract_database_url:  # the kit's own file: nobody else uses it
                from sluice.server.database.engine import forget_database

                forget_database(queue_contract_database_url)

    # -- claims --------------------------------------------------------------------------------

    def test_a_claim_moves_due_runs_to_pending_for_the_agent(self, queue_world: QueueWorld) -> None:
        runs = queue_world.runs(3)
        agent_id = uuid.uuid4()
        claimed = queue_world.claim(agent_id)
        assert sorted(run.id for run in claimed) == sorted(run.id for run in runs)
        assert all(run.state.type.value == "PENDING" and run.agent_id == agent_id for run in claimed)
        history = [entry.type.value for entry in queue_world.client.read_flow_run_states(runs[0].id)]
        assert history == ["SCHEDULED", "PENDING"]
        assert queue_world.claim() == []

    def test_racing_claimers_take_every_run_exactly_once(self, queue_world: QueueWorld) -> None:
        runs = queue_world.runs(40)
        claimed: list[tuple[uuid.UUID, Any]] = []
        lock = threading.Lock()

        def work(agent_id: uuid.UUID) -> None:
            while got := queue_world.claim(agent_id, limit=3):
                with lock:
                    claimed.extend((agent_id, run) for run in got)

        in_threads(4, work)
        ids = [run.id for _, run in claimed]
        assert sorted(ids) == sorted(run.id for run in runs)
        assert len(set(ids)) == len(ids)
        assert all(run.agent_id == agent_id for agent_id, run in claimed)
        stored = {run.id: run.agent_id for run in queue_world.client.filter_flow_runs(state_types=["PENDING"])}
        assert stored == {run.id: agent_id for agent_id, run in claimed}

    def test_a_queue_limit_is_never_exceeded(self, queue_world: QueueWorld) -> None:
        runs = queue_world.runs(12)
        queue = queue_world.client.read_work_queue_by_name(QUEUE)
        queue_world.client.set_work_queue_concurrency_limit(queue.id, 2)
        first = queue_world.claim(limit=10)
        assert len(first) == 2  # the first claim fills the queue
        assert queue_world.claim(limit=10) == []
        for run in first:
            queue_world.execute(run)
        in_threads(4, queue_world.drain())
        assert len(list(queue_world.side_effects.iterdir())) == 12
        assert queue_world.max_active(runs) == 2

    def test_a_deployment_limit_is_never_exceeded(self, queue_world: QueueWorld) -> None:
        queue_world.client.update_deployment(queue_world.deployment.id, concurrency_limit=1)
        runs = queue_world.runs(8)
        first = queue_world.claim(limit=10)
        assert len(first) == 1
        assert queue_world.claim(limit=10) == []  # over the limit: the rest wait
        queue_world.execute(first[0])
        in_threads(4, queue_world.drain())
        assert len(list(queue_world.side_effects.iterdir())) == 8
        assert queue_world.max_active(runs) == 1

    def test_a_full_deployment_does_not_hide_other_deployments_runs(self, queue_world: QueueWorld) -> None:
        queue_world.client.update_deployment(queue_world.deployment.id, concurrency_limit=1)
        queue_world.runs(5)
        other = queue_world.client.create_deployment("hourly", queue_world.flow.id, work_queue_name=QUEUE)
        later = datetime.now(UTC) + timedelta(milliseconds=1)
        other_run = queue_world.runs(1, other, state={"type": "SCHEDULED", "scheduled_time": later.isoformat()})[0]
        claimed = queue_world.claim(limit=10, prefetch_seconds=60)
        assert len(claimed) == 2 and other_run.id in {run.id for run in claimed}

    def test_a_paused_queue_hands_out_nothing_until_resumed(self, queue_world: QueueWorld) -> None:
        queue_world.runs(3)
        queue = queue_world.client.read_work_queue_by_name(QUEUE)
        queue_world.client.pause_work_queue(queue.id)
        assert queue_world.claim() == []
        queue_world.client.resume_work_queue(queue.id)
        assert len(queue_world.claim()) == 3

    def test_prefetch_claims_runs_due_within_the_window_only(self, queue_world: QueueWorld) -> None:
        later = datetime.now(UTC) + timedelta(minutes=5)
        run = queue_world.runs(1, state={"type": "SCHEDULED", "scheduled_time": later.isoformat()})[0]
        assert queue_world.claim(prefetch_seconds=60) == []
        assert [claimed.id for claimed in queue_world.claim(prefetch_seconds=600)] == [run.id]

    def test_runs_awaiting_an_in_place_retry_are_left_alone(self, queue_world: QueueWorld) -> None:
        run = queue_world.runs(1)[0]
        assert len(queue_world.claim()) == 1
        queue_world.client.set_flow_run_state(run.id, "RUNNING")
        retry = {"type": "SCHEDULED", "name": "AwaitingRetry"}
        assert queue_world.client.set_flow_run_state(run.id, retry).status == "ACCEPT"
        assert queue_world.claim() == []
        assert queue_world.client.set_flow_run_state(run.id, "RUNNING").status == "ACCEPT"  # the engine retries

    def test_runs_later_than_max_lateness_are_not_started(self, queue_world: QueueWorld) -> None:
        strict = queue_world.client.create_deployment(
            "strict", queue_world.flow.id, work_queue_name=QUEUE, max_lateness=60
        )
        past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        too_late = queue_world.runs(1, strict, state={"type": "SCHEDULED", "scheduled_time": past})[0]
        fine = queue_world.runs(1, state={"type": "SCHEDULED", "scheduled_time": past})[0]
        assert [run.id for run in queue_world.claim()] == [fine.id]
        assert queue_world.state_of(too_late) == "SCHEDULED"  # for the late-runs service to cancel
        assert queue_world.claim() == []

    def test_an_answer_that_cannot_be_built_ends_its_run_crashed_and_the_others_are_claimed(
        self, queue_world: QueueWorld
    ) -> None:
        from sluice.queues import ClaimRequest

        runs = queue_world.runs(3)
        broken = runs[1].id

        def build_answer(run: Any) -> Any:
            if run.id == broken:
                raise ValueError("this row cannot be read")
            assert run.state_type == "PENDING"
            return run.id

        request = ClaimRequest(queues=(QUEUE,), limit=10, agent_id=uuid.uuid4())
        answers = queue_world.backend.claim_runs(request, build_answer=build_answer)
        assert sorted(answers) == sorted(run.id for run in runs if run.id != broken)
        crashed = queue_world.client.read_flow_run(broken)
        assert crashed.state.type.value == "CRASHED"
        assert "this row cannot be read" in (crashed.state.message or "")
        assert queue_world.claim() == []

    def test_a_legacy_tag_queue_hands_out_runs_of_deployments_with_all_its_tags(self, queue_world: QueueWorld) -> None:
        queue_world.client.create_work_queue("legacy", filter=["etl", "nightly"])
        queue_world.client.create_work_queue("legacy-missing-tag", filter=["etl", "hourly"])
        run = queue_world.runs(1)[0]
        assert queue_world.claim(queue="legacy-missing-tag") == []
        assert [claimed.id for claimed in queue_world.claim(queue="legacy")] == [run.id]
        assert queue_world.claim() == []

    def test_match_claims_from_every_queue_with_the_prefix(self, queue_world: QueueWorld) -> None:
        run = queue_world.runs(1)[0]
        claimed = queue_world.client.claim_flow_runs([], uuid.uuid4(), match=QUEUE[:5])
        assert [r.id for r in claimed] == [run.id]

    def test_claiming_records_last_polled_on_the_queue(self, queue_world: QueueWorld) -> None:
        before = datetime.now(UTC)
        queue_world.claim()
        polled = queue_world.client.read_work_queue_by_name(QUEUE).last_polled
        assert polled is not None and polled >= before - timedelta(seconds=1)

    # -- long polls ----------------------------------------------------------------------------

    def test_a_long_poll_answers_when_a_run_is_created(self, queue_world: QueueWorld) -> None:
        poll = Background(lambda: queue_world.claim(wait_seconds=LONG_POLL))
        wait_for_a_waiter(queue_world.backend)
        run = queue_world.runs(1)[0]
        assert [claimed.id for claimed in poll.result("the long poll to answer")] == [run.id]

    def test_a_long_poll_answers_when_a_slot_is_freed(self, queue_world: QueueWorld) -> None:
        queue_world.client.update_deployment(queue_world.deployment.id, concurrency_limit=1)
        first, second = queue_world.runs(2)
        assert [run.id for run in queue_world.claim()] == [first.id]
        poll = Background(lambda: queue_world.claim(wait_seconds=LONG_POLL))
        wait_for_a_waiter(queue_world.backend)
        queue_world.execute(first)
        assert [claimed.id for claimed in poll.result("the long poll to answer")] == [second.id]

    def test_a_long_poll_answers_when_a_future_run_comes_due(self, queue_world: QueueWorld) -> None:
        soon = datetime.now(UTC) + timedelta(seconds=1)
        run = queue_world.runs(1, state={"type": "SCHEDULED", "scheduled_time": soon.isoformat()})[0]
        poll = Background(lambda: queue_world.claim(wait_seconds=LONG_POLL))
        assert [claimed.id for claimed in poll.result("the long poll to answer")] == [run.id]
        assert datetime.now(UTC) >= soon

    def test_a_long_poll_on_another_replica_answers_when_a_run_is_created(self, queue_world: QueueWorld) -> None:
        """A second store and backend on the same database stand for another server process: only the
        backend's way of telling replicas (a notification, a shared index) can wake its long poll."""
        from sluice.queues import ClaimRequest
        from sluice.server.database.change_feed import forget_feed
        from sluice.server.database.engine import Database
        from sluice.server.queue_store import DatabaseQueueStore

        database = Database(queue_world.settings.effective_database_url, queue_world.settings)
        replica = type(queue_world.backend)(DatabaseQueueStore(database), queue_world.settings)
        request = ClaimRequest(queues=(QUEUE,), limit=10, agent_id=uuid.uuid4())
        try:
            poll = Background(lambda: asyncio.run(_long_poll(replica, request, LONG_POLL)))
            wait_for_a_waiter(replica)
            run = queue_world.runs(1)[0]
            assert [claimed.id for claimed in poll.result("the replica's long poll to answer")] == [run.id]
        finally:
            replica.close()
            forget_feed(database)
            database.dispose()


async def _long_poll(backend: Any, request: Any, seconds: float) -> list[Any]:
    """What ``POST /api/work_queues/claim`` does with ``wait_seconds``, on ``backend`` directly."""
    deadline = time.monotonic() + seconds
    while True:
        version = backend.work_version()
        claimed = await asyncio.to_thread(backend.claim_runs, request)
        remaining = deadline - time.monotonic()
        if claimed or remaining <= 0:
            return claimed
        await backend.wait_for_work(request, remaining, since=version)
