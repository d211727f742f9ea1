"""Queue backends side by side: ``redis`` against ``sql``, on the same machine, with the database on
SQLite and on PostgreSQL (127.0.0.1:5432, user ``postgres``; a throwaway database each, dropped
afterwards) and Redis at 127.0.0.1:6379 (a throwaway key prefix, deleted afterwards). A half that
cannot run (no PostgreSQL, no Redis) is skipped with a note.

Against a real ``sluice server start --no-services`` per backend and database. Prints one figure per
line, each named ``<database>_<backend>_<figure>``:

- ``claims_runs_per_second``: 10,000 queued runs claimed by 4 agents (threads, HTTP) in batches of 50;
- ``claim_requests_per_second``: 1,000 queued runs claimed one per request by 4 agents;
- ``dispatch_due_to_running_p50/p99``: 200 runs due 0.1 s apart, each picked up by an in-process
  ``Agent`` (long poll, prefetch 0) and started on a stand-in infrastructure that sets RUNNING at
  once: due→RUNNING without a Python interpreter's start-up (RUNNING time minus expected start
  time, both server clocks).

The 10,000 runs are inserted straight into the database: the ``redis`` server is then asked to rebuild
its index (as after a restart) and the clock starts once Redis holds them all.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_dispatch import (  # noqa: E402
    _BenchPlugin,
    bulk_runs,
    emit,
    latencies,
    logging_quiet,
    percentile,
    postgres_database,
    running_agent,
    wait_finished,
)

from tests.e2e.processes import ServerProcess, wait_until  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
BACKENDS = ("sql", "redis")


def redis_available() -> bool:
    """Whether Redis answers at 127.0.0.1:6379."""
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.exceptions.ConnectionError:
        return False


@contextmanager
def server(label: str, database_url: str, backend: str, home: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A server claiming through ``backend`` (and, for redis, its key prefix), stopped afterwards."""
    import redis

    prefix = f"sluice-bench-{secrets.token_hex(4)}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(
        SLUICE_HOME=str(home),
        SLUICE_DATABASE_URL=database_url,
        SLUICE_QUEUE_BACKEND=backend,
        SLUICE_REDIS_URL=REDIS_URL,
        SLUICE_REDIS_KEY_PREFIX=prefix,
    )
    process = ServerProcess(env, home / f"server-{label}-{backend}.log")
    process.args.append("--no-services")
    process.start()
    try:
        yield process, prefix
    finally:
        process.stop()
        if backend == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for offset in range(0, len(keys), 500):
                client.delete(*keys[offset : offset + 500])


def queue_runs(database_url: str, deployment: Any, count: int, backend: str, prefix: str) -> None:
    """``count`` due runs of the deployment, straight into the database; for redis, indexed too."""
    bulk_runs(database_url, deployment, count, datetime.now(UTC) - timedelta(seconds=1))
    if backend == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        client.publish(f"{prefix}:wake", "reconcile bench")  # the server's rebuilder picks it up
        ready = f"{prefix}:ready:{deployment.work_queue_name}"
        wait_until(lambda: client.zcard(ready) >= count, f"Redis to index {count} runs", timeout=300)


def claim_throughput(client_factory: Callable[[], Any], queue: str, count: int, batch: int) -> float:
    """Runs (batch > 1) or requests (batch 1) per second, 4 agents claiming until nothing is left."""
    claimed: list[int] = []

    def agent() -> None:
        agent_id = uuid.uuid4()
        with client_factory() as client:
            while runs := client.claim_flow_runs([queue], agent_id, limit=batch):
                claimed.append(len(runs))

    threads = [threading.Thread(target=agent) for _ in range(4)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    assert sum(claimed) == count, f"claimed {sum(claimed)} of {count}"
    return (count if batch > 1 else len(claimed)) / elapsed


def dispatch(client: Any, flow_id: Any) -> list[float]:
    """Due→RUNNING of 200 runs due 0.1 s apart, on the stand-in infrastructure."""
    inline = client.create_deployment(
        "inline", flow_id, work_queue_name="bench-inline", infrastructure={"type": "bench-inline"}
    )
    start = datetime.now(UTC) + timedelta(seconds=3)
    run_ids = []
    for number in range(200):
        state = {"type": "SCHEDULED", "scheduled_time": start + timedelta(milliseconds=100 * number)}
        run_ids.append(client.create_flow_run_from_deployment(inline.id, state=state).id)
    with running_agent("bench-inline"):
        wait_finished(client, inline.id, 200)
    return latencies(client, run_ids)


def bench(label: str, database_url: str, backend: str, home: Path) -> None:
    """Every figure for one database and one backend."""
    from sluice.client import get_client

    with server(label, database_url, backend, home) as (process, prefix):
        os.environ["SLUICE_API_URL"] = process.api_url
        os.environ["SLUICE_AGENT_CLAIM_WAIT_SECONDS"] = "10"
        try:
            with get_client() as client:
                flow = client.create_flow(f"bench-{backend}")
                client.claim_flow_runs(["warm-up"], uuid.uuid4())  # the server's first claim builds its index
                for count, batch, name in (
                    (10_000, 50, "claims_runs_per_second"),
                    (1_000, 1, "claim_requests_per_second"),
                ):
                    deployment = client.create_deployment(f"claims-{batch}", flow.id, work_queue_name=f"bench-{batch}")
                    queue_runs(database_url, deployment, count, backend, prefix)
                    emit(
                        f"{label}_{backend}_{name}",
                        claim_throughput(get_client, deployment.work_queue_name, count, batch),
                        "/s",
                    )
                values = dispatch(client, flow.id)
                emit(f"{label}_{backend}_dispatch_due_to_running_p50", percentile(values, 0.5), "s")
                emit(f"{label}_{backend}_dispatch_due_to_running_p99", percentile(values, 0.99), "s")
        finally:
            os.environ.pop("SLUICE_API_URL", None)


def main() -> int:
    """Both backends on SQLite, then on PostgreSQL."""
    from sluice.plugins import get_plugin_manager

    logging_quiet()
    get_plugin_manager().register(_BenchPlugin(), name="bench-inline")
    backends = BACKENDS if redis_available() else ("sql",)
    if "redis" not in backends:
        print("redis: skipped (no Redis at 127.0.0.1:6379)", flush=True)
    with tempfile.TemporaryDirectory(prefix="sluice-bench-queues-") as folder:
        home = Path(folder)
        os.environ["SLUICE_HOME"] = str(home)
        for backend in backends:
            database = home / f"{backend}.db"
            bench("sqlite", f"sqlite:///{database}", backend, home)
        for backend in backends:
            with postgres_database() as url:
                if url is None:
                    print("postgres: skipped (no PostgreSQL at 127.0.0.1:5432)", flush=True)
                    break
                bench("postgres", url, backend, home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
