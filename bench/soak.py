"""Soak: 2 API replicas on PostgreSQL, 4 agents, 2,000 runs, faults on a timer — is anything lost,
duplicated or stuck?

``make soak`` (a few minutes to a quarter of an hour on two cores; ``SOAK_RUNS`` and
``SOAK_FAULT_SECONDS`` change the size and the pace). What runs:

- a private PostgreSQL instance (``tests/chaos/postgres.py``: initdb in a temporary folder, a free port,
  never the shared service), two ``sluice server start`` replicas on it with their services on (the
  scheduler, crash detection with a 20 s heartbeat timeout, late runs);
- four ``sluice agent start`` processes (at most 3 runs each at once), two on each replica, each with a
  home of its own, starting every run on the ``process`` infrastructure (a real ``python -m
  sluice.engine``); the flow is ``chaos-step`` from the chaos suite: it notes its execution in a
  ledger file and logs one line;
- the runs are created through the API, alternating replicas, about 100 waiting at a time, each with an
  idempotency key, and retried while the API cannot take them (as any careful client would);
- a fault every ``SOAK_FAULT_SECONDS`` (default 10), in turn: ``kill -9`` of a replica (started again
  on its port), of an agent (a new one started on its home), and an immediate stop of PostgreSQL
  (started again once both replicas say their database is unavailable).

After the last run is created the faults stop; the soak waits for every run to end (at most 5 minutes)
and prints, one figure per line:

- ``soak_runs_lost``: runs the API acknowledged that are missing, that COMPLETED without their flow
  running, or that ended otherwise than COMPLETED with no fault to explain it;
- ``soak_runs_duplicated``: runs whose flow started more than once, whose history holds more than one
  RUNNING or final state, or that a retried creation made twice; plus log lines stored twice;
- ``soak_runs_stuck``: runs not in a final state when the settle deadline passed;
- ``soak_runs_crashed_by_faults``: runs CRASHED because the agent holding them was killed (their flows
  stop and their runs end CRASHED: that is the documented outcome, not a loss);
- the faults injected, the replicas' peak memory (``VmHWM`` of each replica process, the largest), the
  total time and the throughput (final runs per second).

The first three must be 0; the script exits 1 otherwise.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos.postgres import PrivatePostgres, postgres_binaries_missing  # noqa: E402
from tests.chaos.site import ChaosSite  # noqa: E402
from tests.e2e.processes import ServerProcess, SluiceProcess, wait_until  # noqa: E402

RUNS = int(os.environ.get("SOAK_RUNS", "2000"))
FAULT_SECONDS = float(os.environ.get("SOAK_FAULT_SECONDS", "10"))
AGENTS = 4
AGENT_LIMIT = 3
BACKLOG = 100
SETTLE_SECONDS = 300.0
QUEUE = "soak"
FINAL = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")
SETTINGS = {
    "SLUICE_AGENT_HEARTBEAT_SECONDS": "1",
    "SLUICE_AGENT_HEARTBEAT_TIMEOUT": "20",
    "SLUICE_AGENT_CLAIM_WAIT_SECONDS": "5",
    "SLUICE_ENGINE_WATCHDOG_SECONDS": "2",
}


def emit(name: str, value: float, unit: str = "") -> None:
    """One figure, one line."""
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{name}: {shown}{' ' + unit if unit else ''}", flush=True)


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident memory (``VmHWM``), in kB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Soak:
    """The processes, the threads that create runs and inject faults, and the figures."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.postgres = PrivatePostgres()
        self.site = ChaosSite(folder, dict(os.environ), settings=SETTINGS)
        self.replicas: list[ServerProcess] = []
        self.agents: list[SluiceProcess] = []
        self.agent_names: list[str] = []
        self.killed_agents: set[str] = set()
        self.faults: Counter[str] = Counter()
        self.peak_kb = 0
        self.created: dict[int, str] = {}
        self.creation_retries = 0
        self.done_creating = threading.Event()
        self.stopping = threading.Event()
        self.deployment: Any = None
        self.database_url = ""

    # -- set-up ----------------------------------------------------------------------------------

    def start(self) -> None:
        """PostgreSQL, the replicas, the deployment and the agents."""
        self.postgres.start()
        self.database_url = self.postgres.create_database("sluice")
        for number in (1, 2):
            self.replicas.append(self.site.server(f"replica-{number}", SLUICE_DATABASE_URL=self.database_url))
        with self.site.client(self.replicas[0]) as client:
            self.deployment = self.site.deploy(client, QUEUE)
        for number in range(AGENTS):
            self.agents.append(self._start_agent(number, generation=0))

    def _start_agent(self, number: int, generation: int) -> SluiceProcess:
        name = f"soak-agent-{number}-{generation}"
        replica = self.replicas[number % 2]
        extra = ("--limit", str(AGENT_LIMIT), "--name", name)
        self.agent_names.append(name)
        return self.site.agent(replica, QUEUE, name=f"agent-{number}", extra=extra)

    # -- threads ---------------------------------------------------------------------------------

    def create_runs(self) -> None:
        """Create RUNS runs, about BACKLOG waiting at a time, through both replicas; retried until taken."""
        from sluice.client import get_client
        from sluice.errors import SluiceError

        clients = [get_client(api_url=replica.api_url) for replica in self.replicas]
        try:
            number = 0
            while number < RUNS and not self.stopping.is_set():
                if self._waiting() >= BACKLOG:
                    self.stopping.wait(0.2)
                    continue
                client = clients[number % 2]
                try:
                    run = client.create_flow_run_from_deployment(
                        self.deployment.id,
                        parameters={"ledger": str(self.site.ledger.path), "lines": 1},
                        idempotency_key=f"soak-{number}",
                    )
                except SluiceError:
                    self.creation_retries += 1
                    self.stopping.wait(0.5)
                    continue
                self.created[number] = str(run.id)
                number += 1
        finally:
            for client in clients:
                client.close()
            self.done_creating.set()

    def _waiting(self) -> int:
        """Runs created and not yet final (a large number while the database cannot say)."""
        try:
            return self._count(f"SELECT count(*) FROM flow_run WHERE state_type NOT IN {FINAL}")
        except Exception:
            return BACKLOG

    def inject_faults(self) -> None:
        """A fault every FAULT_SECONDS until the runs are all created: replica, agent, PostgreSQL, agent…"""
        rotation = ["replica", "agent", "postgres", "agent"]
        turn = 0
        while not self.done_creating.wait(FAULT_SECONDS):
            kind = rotation[turn % len(rotation)]
            if kind == "replica":
                self._kill_replica(self.faults["replica"] % 2)
            elif kind == "agent":
                self._kill_agent(self.faults["agent"] % AGENTS)
            else:
                self._restart_postgres()
            self.faults[kind] += 1
            turn += 1

    def sample_memory(self) -> None:
        """Keep the replicas' peak memory up to date (it is read again just before a replica is killed)."""
        while not self.stopping.wait(0.5):
            self._note_memory()

    def _note_memory(self) -> None:
        for replica in self.replicas:
            if replica.process is not None:
                self.peak_kb = max(self.peak_kb, peak_rss_kb(replica.process.pid))

    # -- faults ----------------------------------------------------------------------------------

    def _kill_replica(self, index: int) -> None:
        self._note_memory()
        replica = self.replicas[index]
        replica.kill()
        replica.start()  # the same port: its agents find it again

    def _kill_agent(self, index: int) -> None:
        agent = self.agents[index]
        agent.kill()
        self.killed_agents.add(self._name_of(agent))
        generation = sum(1 for name in self.agent_names if name.startswith(f"soak-agent-{index}-"))
        self.agents[index] = self._start_agent(index, generation)

    @staticmethod
    def _name_of(agent: SluiceProcess) -> str:
        return agent.args[agent.args.index("--name") + 1]

    def _restart_postgres(self) -> None:
        import httpx

        self.postgres.stop("immediate")

        def unavailable(replica: ServerProcess) -> bool:
            try:
                return httpx.get(f"{replica.api_url}/health", timeout=5).status_code == 503
            except httpx.HTTPError:
                return False

        for replica in self.replicas:
            wait_until(lambda replica=replica: unavailable(replica), "the replica to see the outage", timeout=60)
        self.postgres.start()

    # -- the end ---------------------------------------------------------------------------------

    def settle(self) -> float:
        """Wait until every created run is final, at most SETTLE_SECONDS; returns when the last one ended."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            try:
                if self._count(f"SELECT count(*) FROM flow_run WHERE state_type NOT IN {FINAL}") == 0:
                    break
            except Exception:
                pass
            time.sleep(1.0)
        return time.monotonic()

    def _count(self, sql: str) -> int:
        import psycopg

        with psycopg.connect(self.database_url.replace("+psycopg", ""), connect_timeout=5) as connection:
            return int(connection.execute(sql).fetchone()[0])

    def figures(self) -> dict[str, int]:
        """Lost, duplicated, stuck and crashed-by-faults runs; log lines lost and stored twice."""
        import psycopg

        with psycopg.connect(self.database_url.replace("+psycopg", ""), connect_timeout=5) as connection:
            runs = {
                str(row[0]): row[1:]
                for row in connection.execute("SELECT id, state_type, agent_id, idempotency_key FROM flow_run")
            }
            agents = {str(row[0]): row[1] for row in connection.execute("SELECT id, name FROM agent")}
            history: dict[str, Counter[str]] = {}
            for run_id, state_type in connection.execute("SELECT flow_run_id, type FROM flow_run_state"):
                history.setdefault(str(run_id), Counter())[state_type] += 1
            logs = Counter(
                (str(run_id), message)
                for run_id, message in connection.execute("SELECT flow_run_id, message FROM log")
                if message.startswith("line ")
            )
        starts = self.site.ledger.starts()
        keys = Counter(key for _, _, key in runs.values() if key and key.startswith("soak-"))
        lost = duplicated = stuck = crashed_by_faults = 0
        for run_id in self.created.values():
            if run_id not in runs:
                lost += 1
                continue
            state, agent_id, key = runs[run_id]
            states = history.get(run_id, Counter())
            if state not in FINAL:
                stuck += 1
            elif state == "COMPLETED":
                lost += starts[run_id] == 0
            elif state == "CRASHED" and agents.get(str(agent_id)) in self.killed_agents:
                crashed_by_faults += 1
            else:
                lost += 1
            executions = max(1, sum(states[kind] for kind in FINAL))
            if starts[run_id] > 1 or states["RUNNING"] > 1 or executions > 1 or keys[key] > 1:
                duplicated += 1
        logged = {run_id for run_id, _ in logs}
        completed = [run_id for run_id in self.created.values() if runs.get(run_id, ("",))[0] == "COMPLETED"]
        return {
            "lost": lost,
            "duplicated": duplicated,
            "stuck": stuck,
            "crashed_by_faults": crashed_by_faults,
            "completed": len(completed),
            "log_lines_lost": sum(1 for run_id in completed if run_id not in logged),  # one line each
            "log_lines_duplicated": sum(1 for count in logs.values() if count > 1),
        }

    def close(self) -> None:
        """Stop every process and PostgreSQL."""
        self.stopping.set()
        self.site.close()
        self.postgres.close()


def main() -> int:
    missing = postgres_binaries_missing()
    if missing:
        print(f"soak: skipped: {missing}", file=sys.stderr)
        return 0
    folder = Path(tempfile.mkdtemp(prefix="sluice-soak-"))
    soak = Soak(folder)
    try:
        soak.start()
        began = time.monotonic()
        threads = [
            threading.Thread(target=target, name=name, daemon=True)
            for target, name in (
                (soak.create_runs, "creator"),
                (soak.inject_faults, "faults"),
                (soak.sample_memory, "memory"),
            )
        ]
        for thread in threads:
            thread.start()
        soak.done_creating.wait()
        threads[1].join()  # a fault in progress finishes (a replica or PostgreSQL is started again)
        ended = soak.settle()
        figures = soak.figures()
        seconds = ended - began
        emit("soak_runs_created", len(soak.created), "runs")
        emit("soak_runs_completed", figures["completed"], "runs")
        emit("soak_runs_lost", figures["lost"], "runs")
        emit("soak_runs_duplicated", figures["duplicated"], "runs")
        emit("soak_runs_stuck", figures["stuck"], "runs")
        emit("soak_runs_crashed_by_faults", figures["crashed_by_faults"], "runs")
        emit("soak_log_lines_lost", figures["log_lines_lost"], "lines")
        emit("soak_log_lines_duplicated", figures["log_lines_duplicated"], "lines")
        emit("soak_faults_replica_kills", soak.faults["replica"])
        emit("soak_faults_agent_kills", soak.faults["agent"])
        emit("soak_faults_postgres_restarts", soak.faults["postgres"])
        emit("soak_run_creation_retries", soak.creation_retries)
        emit("soak_server_peak_rss", soak.peak_kb / 1024, "MB")
        emit("soak_total_time", seconds, "s")
        emit("soak_throughput", figures["completed"] / seconds if seconds else 0.0, "runs/s")
        bad = figures["lost"] + figures["duplicated"] + figures["stuck"]
        bad += figures["log_lines_lost"] + figures["log_lines_duplicated"]
        if bad:
            print(
                f"soak: something was lost, duplicated or stuck; the processes' output is in {folder}", file=sys.stderr
            )
            return 1
        shutil.rmtree(folder, ignore_errors=True)
        return 0
    finally:
        soak.close()


if __name__ == "__main__":
    sys.exit(main())
