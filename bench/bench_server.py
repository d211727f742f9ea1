"""Benchmark of the API server: prints one figure per line, for SQLite and for PostgreSQL.

Each run starts a real ``sluice server start`` on a free loopback port with a temporary
``SLUICE_HOME`` (and, for PostgreSQL, a fresh database on 127.0.0.1:5432), then measures:

- the time from starting the process to a healthy ``/api/health``;
- requests per second and p50/p99 latency of ``create_flow_run`` (from a deployment) and of reading
  a deployment by name, with 1 and 8 concurrent clients (threads, one keep-alive httpx client each),
  and the number of failed requests;
- the server's CPU time per request (user + system, from /proc): a figure that, unlike requests per
  second, hardly depends on what else the machine is doing;
- the server's resident memory (RSS) after the load.

Targets on SQLite: >= 400 create_flow_run/s with one client, no failed request with 8, healthy
within 1 s, under 150 MB. Run with ``make bench`` or ``python bench/bench_server.py``.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SLUICE = Path(sys.executable).parent / "sluice"
POSTGRES_ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")
#: Requests per client in each scenario, after a short warm-up.
REQUESTS_ONE_CLIENT = 1000
REQUESTS_PER_CLIENT_OF_EIGHT = 250
WARM_UP = 50


@dataclass
class Outcome:
    """Latencies (seconds) and failures of one scenario."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    elapsed: float = 0.0

    def percentile(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the requests finished, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_megabytes(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database URL for the run (dropped afterwards), or None without the service."""
    import psycopg

    for admin_url in POSTGRES_ADMIN_URLS:
        try:
            admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError:
            continue
        name = f"sluice_bench_{secrets.token_hex(4)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        return
    yield None


@contextmanager
def running_server(home: Path, database_url: str | None) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """Start ``sluice server start``; yield its API URL, process and seconds until healthy."""
    port = free_port()
    env = {**os.environ, "SLUICE_HOME": str(home)}
    env.pop("SLUICE_API_URL", None)
    env.pop("SLUICE_API_KEY", None)
    if database_url:
        env["SLUICE_DATABASE_URL"] = database_url
    else:
        env.pop("SLUICE_DATABASE_URL", None)
    url = f"http://127.0.0.1:{port}/api"
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(SLUICE), "server", "start", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = started + 60
    try:
        with httpx.Client(timeout=1) as probe:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited: {process.stderr.read().decode() if process.stderr else ''}")
                try:
                    if probe.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError("the server did not become healthy within 60 s")
                time.sleep(0.005)  # polling the port; the figure's resolution is 5 ms
        healthy_after = time.perf_counter() - started
        yield url, process, healthy_after
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def run_scenario(clients: int, per_client: int, request: Callable[[httpx.Client], httpx.Response]) -> Outcome:
    """``clients`` threads each sending ``per_client`` requests; latencies and failures collected."""
    outcome = Outcome()
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker() -> None:
        latencies, failures = [], 0
        with httpx.Client(timeout=30) as http:
            for _ in range(WARM_UP // clients + 1):
                request(http)
            barrier.wait()
            for _ in range(per_client):
                began = time.perf_counter()
                try:
                    ok = request(http).status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - began)
                failures += not ok
        with lock:
            outcome.latencies.extend(latencies)
            outcome.failures += failures

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    outcome.elapsed = time.perf_counter() - began
    return outcome


def bench_database(label: str, database_url: str | None) -> None:
    """Every figure for one database."""
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as home:
        # A first, unmeasured start warms the OS file cache (and creates the schema).
        with running_server(Path(home), database_url):
            pass
        with running_server(Path(home), database_url) as (url, process, healthy_after):
            print(f"server {label}: start to healthy /api/health: {healthy_after:.3f} s")
            with httpx.Client(base_url=url, timeout=30) as http:
                flow = http.post("/flows/", json={"name": "bench"}).json()
                schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
                body = {"name": "load", "flow_id": flow["id"], "parameters": {"n": 1}}
                body["parameter_openapi_schema"] = schema
                deployment = http.post("/deployments/", json=body).json()
            create_path = f"{url}/deployments/{deployment['id']}/create_flow_run"
            read_path = f"{url}/deployments/name/bench/load"
            scenarios = {
                "create_flow_run": lambda http: http.post(create_path, json={"parameters": {"n": 2}}),
                "read_deployment_by_name": lambda http: http.get(read_path),
            }
            for name, request in scenarios.items():
                for clients, per_client in ((1, REQUESTS_ONE_CLIENT), (8, REQUESTS_PER_CLIENT_OF_EIGHT)):
                    cpu_before = cpu_seconds(process.pid)
                    outcome = run_scenario(clients, per_client, request)
                    total = len(outcome.latencies)
                    # Includes the warm-up requests: a slight overestimate, independent of machine load.
                    cpu_per_request = (cpu_seconds(process.pid) - cpu_before) / total * 1000
                    prefix = f"server {label}: {name}, {clients} client{'s' if clients > 1 else ''}"
                    print(f"{prefix}: {total / outcome.elapsed:.0f} requests/s")
                    print(f"{prefix}: p50 {outcome.percentile(0.50):.2f} ms")
                    print(f"{prefix}: p99 {outcome.percentile(0.99):.2f} ms")
                    print(f"{prefix}: {outcome.failures} failed requests of {total}")
                    print(f"{prefix}: server CPU {cpu_per_request:.2f} ms per request")
            print(f"server {label}: RSS after the load: {rss_megabytes(process.pid):.0f} MB")


def main() -> None:
    """Benchmark SQLite, then PostgreSQL when the service answers."""
    bench_database("sqlite", None)
    with postgres_database() as url:
        if url is None:
            print("server postgresql: skipped (no PostgreSQL at 127.0.0.1:5432)")
        else:
            bench_database("postgresql", url.replace("postgresql://", "postgresql+psycopg://"))


if __name__ == "__main__":
    main()
