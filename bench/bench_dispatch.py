"""Dispatch benchmarks: how fast a due run starts, and how many runs claims hand out per second.

Against a real ``sluice server start`` (no background services) on SQLite and on PostgreSQL
(127.0.0.1:5432, trust auth, user ``postgres``; a throwaway database is created and dropped; the
PostgreSQL half is skipped with a note when the server is not there). Prints one figure per line:

- ``dispatch_due_to_running_p50/p99``: 200 runs due 0.1 s apart (20 s in all), each picked up by an
  in-process ``Agent`` (long poll, prefetch 0) and started on a stand-in infrastructure that sets
  RUNNING at once — the dispatch path without a Python interpreter's start-up;
  latency = the run's RUNNING time minus its expected start time, both server clocks.
- ``dispatch_created_to_running_process_p50``: 20 runs created due now and started on the real
  ``process`` infrastructure (``python -m sluice.engine``): what a user sees, interpreter included.
- ``claims_runs_per_second``: 10,000 queued runs claimed by 4 agents in batches of 50.
- ``claim_requests_per_second``: 1,000 runs claimed one per request by 4 agents.
- ``claims_runs_per_second_backend_only``: 10,000 runs claimed in batches of 50 by 4 threads calling
  the ``sql`` backend directly (no HTTP): the database's share of a claim.

Targets: p50 under 0.5 s, claims at least 1,000 runs/s.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sluice.hookspecs import hookimpl  # noqa: E402
from tests.e2e.processes import ServerProcess, wait_until  # noqa: E402

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
HELLO = ROOT / "examples" / "flows"


def emit(name: str, value: float, unit: str) -> None:
    """One figure, one line."""
    print(f"{name}: {value:.3f} {unit}", flush=True)


# -- a stand-in infrastructure: RUNNING then COMPLETED, in the agent's own thread -------------------


def _inline_block() -> type[Any]:
    from sluice.blocks import InfrastructureBlock, InfrastructureResult

    class InlineInfrastructure(InfrastructureBlock):
        """Marks the run RUNNING and COMPLETED from the agent's thread (no process start-up)."""

        block_type_slug: ClassVar[str] = "bench-inline"

        def run(self, on_started: Callable[[str], None] | None = None) -> InfrastructureResult:
            from sluice.client import get_client

            run_id = self.env["SLUICE__FLOW_RUN_ID"]
            if on_started is not None:
                on_started(f"inline:{run_id}")
            with get_client() as client:
                client.set_flow_run_state(run_id, "RUNNING")
                client.set_flow_run_state(run_id, "COMPLETED")
            return InfrastructureResult(identifier=f"inline:{run_id}", status_code=0)

        def kill(self, identifier: str, grace_seconds: float = 30) -> None:
            """Nothing to stop."""

        def preview(self) -> str:
            return "inline"

    return InlineInfrastructure


class _BenchPlugin:
    def __init__(self) -> None:
        self.block = _inline_block()

    @hookimpl
    def register_infrastructure_blocks(self, register: Callable[[type[Any]], None]) -> None:
        register(self.block)


# -- helpers -------------------------------------------------------------------------------------


@contextmanager
def running_agent(queue: str, limit: int | None = None) -> Iterator[Any]:
    """An in-process ``Agent`` on ``queue`` (long poll, prefetch 0), stopped afterwards."""
    from sluice.agent import Agent

    agent = Agent([queue], prefetch_seconds=0.0, limit=limit, grace_seconds=30)
    thread = threading.Thread(target=agent.start, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.stop()
        thread.join(60)


def bulk_runs(database_url: str, deployment: Any, count: int, due: datetime) -> None:
    """Insert ``count`` SCHEDULED runs due at ``due`` straight into the database."""
    from sqlalchemy import insert

    from sluice.schemas.states import StateCreate
    from sluice.server.database.engine import get_database
    from sluice.server.database.tables import FlowRunStateTable, FlowRunTable
    from sluice.server.orchestration import apply_state

    runs, history = [], []
    scheduled = StateCreate(type="SCHEDULED", scheduled_time=due)
    for number in range(count):
        run = SimpleNamespace(
            id=uuid.uuid4(), created=due, updated=due, name=f"bench-{number}", flow_id=deployment.flow_id,
            deployment_id=deployment.id, work_queue_name=deployment.work_queue_name, parameters={}, tags=[],
            expected_start_time=due, next_scheduled_start_time=None, state_type=None, state_name=None,
            start_time=None, end_time=None, run_count=0, auto_scheduled=False,
        )  # fmt: skip
        history.append(apply_state(run, scheduled, due))
        runs.append(vars(run))
    database = get_database(database_url)
    with database.session() as session:
        for start in range(0, count, 1000):
            session.execute(insert(FlowRunTable.__table__), runs[start : start + 1000])
            session.execute(insert(FlowRunStateTable.__table__), history[start : start + 1000])
        session.commit()


def latencies(client: Any, run_ids: list[Any]) -> list[float]:
    """Seconds from each run's expected start to its RUNNING state."""
    values = []
    for run_id in run_ids:
        states = client.read_flow_run_states(run_id)
        running = next(entry.timestamp for entry in states if entry.type.value == "RUNNING")
        values.append((running - client.read_flow_run(run_id).expected_start_time).total_seconds())
    return values


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def wait_finished(client: Any, deployment_id: Any, count: int, timeout: float = 300) -> None:
    """Wait until ``count`` runs of the deployment are COMPLETED (any other end is an error)."""
    final = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]

    def done() -> bool:
        finished = client.filter_flow_runs(deployment_ids=[deployment_id], state_types=final, limit=1000)
        failed = [run for run in finished if run.state_type.value != "COMPLETED"]
        if failed:
            raise RuntimeError(
                f"flow run {failed[0].name} ended {failed[0].state_type.value}: {failed[0].state_message}"
            )
        return len(finished) >= count

    wait_until(done, f"{count} runs to complete", timeout=timeout, interval=0.5)


# -- the measurements ----------------------------------------------------------------------------


def bench_dispatch(client: Any, flow_id: Any, label: str) -> None:
    """200 staggered due runs on the inline infrastructure; 20 due-now runs on ``process``."""
    inline = client.create_deployment(
        "inline", flow_id, work_queue_name="bench-inline", infrastructure={"type": "bench-inline"}
    )
    start = datetime.now(UTC) + timedelta(seconds=3)
    run_ids = []
    for number in range(200):
        due = start + timedelta(milliseconds=100 * number)
        state = {"type": "SCHEDULED", "scheduled_time": due}
        run_ids.append(client.create_flow_run_from_deployment(inline.id, state=state).id)
    with running_agent("bench-inline"):
        wait_finished(client, inline.id, 200)
    values = latencies(client, run_ids)
    emit(f"{label}_dispatch_due_to_running_p50", percentile(values, 0.5), "s")
    emit(f"{label}_dispatch_due_to_running_p99", percentile(values, 0.99), "s")

    process = client.create_deployment(
        "process",
        flow_id,
        work_queue_name="bench-process",
        path=str(HELLO),
        entrypoint="hello.py:hello",
        infrastructure={"type": "process", "stream_output": False},
    )
    with running_agent("bench-process"):
        run_ids = []
        for _ in range(20):
            run_ids.append(client.create_flow_run_from_deployment(process.id).id)
            wait_finished(client, process.id, len(run_ids), timeout=120)
    values = latencies(client, run_ids)
    emit(f"{label}_dispatch_created_to_running_process_p50", percentile(values, 0.5), "s")


def bench_claims(client_factory: Callable[[], Any], database_url: str, deployment: Any, label: str) -> None:
    """Claim throughput: 10,000 runs in batches of 50, then 1,000 runs one per request; 4 agents."""
    for count, batch, name in ((10_000, 50, "claims_runs_per_second"), (1_000, 1, "claim_requests_per_second")):
        bulk_runs(database_url, deployment, count, datetime.now(UTC) - timedelta(seconds=1))
        claimed: list[int] = []

        def agent(batch: int = batch, claimed: list[int] = claimed) -> None:
            agent_id = uuid.uuid4()
            with client_factory() as client:
                while runs := client.claim_flow_runs([deployment.work_queue_name], agent_id, limit=batch):
                    claimed.append(len(runs))

        threads = [threading.Thread(target=agent) for _ in range(4)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        assert sum(claimed) == count, f"claimed {sum(claimed)} of {count}"
        emit(f"{label}_{name}", (count if batch > 1 else len(claimed)) / elapsed, "/s")


def bench_backend_claims(database_url: str, deployment: Any, label: str) -> None:
    """The same 10,000-run claim in this process, straight on the backend: the database's share."""
    from sluice.queues import ClaimRequest
    from sluice.server.database.change_feed import forget_feed
    from sluice.server.database.engine import Database
    from sluice.server.queue_store import DatabaseQueueStore
    from sluice_queue_sql.backend import SqlQueueBackend

    bulk_runs(database_url, deployment, 10_000, datetime.now(UTC) - timedelta(seconds=1))
    database = Database(database_url)
    backend = SqlQueueBackend(DatabaseQueueStore(database))
    claimed: list[int] = []

    def agent() -> None:
        request = ClaimRequest(queues=(deployment.work_queue_name,), limit=50, agent_id=uuid.uuid4())
        while runs := backend.claim_runs(request):
            claimed.append(len(runs))

    threads = [threading.Thread(target=agent) for _ in range(4)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    backend.close()
    forget_feed(database)
    database.dispose()
    assert sum(claimed) == 10_000, f"claimed {sum(claimed)} of 10000"
    emit(f"{label}_claims_runs_per_second_backend_only", 10_000 / elapsed, "/s")


def bench_database(label: str, database_url: str, home: Path) -> None:
    """Every measurement against a server on ``database_url``."""
    from sluice.client import get_client

    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(SLUICE_HOME=str(home), SLUICE_DATABASE_URL=database_url)
    server = ServerProcess(env, home / f"server-{label}.log")
    server.args.append("--no-services")
    server.start()
    os.environ["SLUICE_API_URL"] = server.api_url
    os.environ["SLUICE_AGENT_CLAIM_WAIT_SECONDS"] = "10"
    try:
        with get_client() as client:
            flow = client.create_flow(f"bench-{label}")
            bench_dispatch(client, flow.id, label)
            claims = client.create_deployment("claims", flow.id, work_queue_name="bench-claims")
            bench_claims(get_client, database_url, claims, label)
            bench_backend_claims(database_url, claims, label)
    finally:
        server.stop()
        os.environ.pop("SLUICE_API_URL", None)


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A throwaway PostgreSQL database's URL (None when PostgreSQL is not there), dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        yield None
        return
    name = f"sluice_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            from sluice.server.database.engine import forget_database

            forget_database(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    """Run the benchmarks on SQLite, then PostgreSQL."""
    from sluice.plugins import get_plugin_manager

    logging_quiet()
    get_plugin_manager().register(_BenchPlugin(), name="bench-inline")
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as folder:
        home = Path(folder)
        os.environ["SLUICE_HOME"] = str(home)
        bench_database("sqlite", f"sqlite:///{home / 'bench.db'}", home)
        with postgres_database() as url:
            if url is None:
                print("postgres: skipped (no PostgreSQL at 127.0.0.1:5432)", flush=True)
            else:
                bench_database("postgres", url, home)
    return 0


def logging_quiet() -> None:
    """Keep the agent's and the engines' output out of the figures."""
    import logging

    logging.getLogger("sluice").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
