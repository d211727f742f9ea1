"""A chaos site: real ``sluice server start`` and ``sluice agent start`` processes a test may kill, the
``chaos-step`` deployments they run, and the ledger in which every execution of a flow is noted.

Every process gets a session of its own and is stopped by its PID at teardown; so is every process a
flow noted in the ledger (an engine, a helper child) that is somehow still alive.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.client import get_client
from tests.e2e.processes import ServerProcess, SluiceProcess, agent_process, pid_alive, wait_until

FLOWS = Path(__file__).parent / "flows"
ENTRYPOINT = "chaos_flows.py:chaos_step"
FLOW_NAME = "chaos-step"

#: Agents heartbeat twice a second, engines check their run as often; the server crashes the runs of an
#: agent silent for 20 s — well past the 10 s an orphan flow is given to stop, so a run of a dead agent
#: is reported by its own flow first (see docs/infrastructure.md) — and claims long-poll for 5 s.
CHAOS_SETTINGS = {
    "SLUICE_AGENT_HEARTBEAT_SECONDS": "0.5",
    "SLUICE_AGENT_HEARTBEAT_TIMEOUT": "20",
    "SLUICE_AGENT_CLAIM_WAIT_SECONDS": "5",
    "SLUICE_ENGINE_WATCHDOG_SECONDS": "0.5",
}


@dataclass(frozen=True)
class Event:
    """One ledger line: ``event`` of ``run_id`` in process ``pid``."""

    event: str
    run_id: str
    pid: int


class Ledger:
    """The file the ``chaos-step`` flows note their executions in (see ``flows/chaos_flows.py``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[Event]:
        """Every line so far, in the order written."""
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text().splitlines():
            event, run_id, pid = line.split()
            found.append(Event(event, run_id, int(pid)))
        return found

    def count(self, event: str, run_id: Any = None) -> int:
        """How many ``event`` lines there are (of ``run_id``, when given)."""
        return sum(1 for e in self.events() if e.event == event and (run_id is None or e.run_id == str(run_id)))

    def starts(self) -> Counter[str]:
        """How many times each run's flow started."""
        return Counter(e.run_id for e in self.events() if e.event == "start")

    def overlapping(self, run_id: Any) -> bool:
        """True when an execution of ``run_id`` started while an earlier one had not noted its end."""
        running = 0
        for event in self.events():
            if event.run_id != str(run_id):
                continue
            if event.event == "start":
                if running:
                    return True
                running += 1
            elif event.event == "end":
                running -= 1
        return False

    def pids(self, run_id: Any = None) -> set[int]:
        """The processes noted (engines and helper children), of ``run_id`` when given."""
        return {e.pid for e in self.events() if run_id is None or e.run_id == str(run_id)}

    def live_pids(self, run_id: Any = None) -> set[int]:
        """The noted processes still alive (of ``run_id``, when given)."""
        return {pid for pid in self.pids(run_id) if pid_alive(pid)}


class ChaosSite:
    """The processes, deployments and ledger of one chaos test, under ``folder``.

    :param env: the environment every process starts from (``SLUICE_*`` of the caller's left out).
    :param settings: ``SLUICE_*`` settings of every process, over ``CHAOS_SETTINGS``.
    """

    def __init__(self, folder: Path, env: dict[str, str], settings: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.env = {key: value for key, value in env.items() if not key.startswith("SLUICE_")}
        self.env.update(CHAOS_SETTINGS, SLUICE_HOME=str(folder / "server-home"))
        self.env.update(settings or {})
        self.ledger = Ledger(folder / "ledger")
        self.flows = folder / "flows"
        shutil.copytree(FLOWS, self.flows, ignore=shutil.ignore_patterns("__pycache__"))
        self.processes: list[SluiceProcess] = []

    # -- processes ------------------------------------------------------------------------------

    def server(self, name: str = "server", port: int | None = None, **settings: str) -> ServerProcess:
        """A started API server (SQLite in the site's home unless ``SLUICE_DATABASE_URL`` is given)."""
        process = ServerProcess({**self.env, **settings}, self.folder / f"{name}.log", port=port)
        self.processes.append(process)
        return process.start()

    def agent(
        self, server: ServerProcess, queue: str, name: str = "agent", extra: tuple[str, ...] = (), **settings: str
    ) -> SluiceProcess:
        """A started agent polling ``queue`` on ``server``, with a home of its own (as on its own host);
        ``extra`` options for ``sluice agent start``."""
        env = {**self.env, "SLUICE_HOME": str(self.folder / f"{name}-home"), "SLUICE_API_URL": server.api_url}
        process = agent_process({**env, **settings}, self.folder / f"{name}.log", queue, extra=extra)
        self.processes.append(process)
        return process.start()

    def close(self) -> None:
        """Stop every process of the site, then kill what the flows started and left behind."""
        for process in reversed(self.processes):
            process.stop(timeout=10)
        for pid in self.ledger.live_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def logs(self) -> str:
        """The output of every process of the site, for a failing assertion."""
        return "\n".join(f"--- {process.log.name}\n{process.output()[-4000:]}" for process in self.processes)

    # -- deployments and runs ---------------------------------------------------------------------

    @contextmanager
    def client(self, server: ServerProcess) -> Iterator[Any]:
        """A client of ``server`` (it reconnects after a restart)."""
        with get_client(api_url=server.api_url) as sluice_client:
            yield sluice_client

    def deploy(self, client: Any, queue: str, **fields: Any) -> Any:
        """The deployment ``chaos-step/<queue>`` on ``queue``: the local flows folder, the process infrastructure."""
        flow = client.create_flow(FLOW_NAME)
        return client.create_deployment(
            queue,
            flow.id,
            work_queue_name=queue,
            path=str(self.flows),
            entrypoint=ENTRYPOINT,
            infrastructure={"type": "process"},
            **fields,
        )

    def run(self, client: Any, deployment: Any, **parameters: Any) -> Any:
        """A new run of ``deployment`` noting to the site's ledger, with ``parameters``."""
        values = {"ledger": str(self.ledger.path), **parameters}
        return client.create_flow_run_from_deployment(deployment.id, parameters=values)

    def file(self, name: str) -> str:
        """A path in the site's folder (a release signal for the flows); it does not exist yet."""
        return str(self.folder / f"{name}-{uuid.uuid4().hex[:6]}")

    def wait_started(self, *run_ids: Any, timeout: float = 60.0) -> None:
        """Wait until the flow of every run has noted its start."""
        wanted = {str(run_id) for run_id in run_ids}
        wait_until(lambda: wanted <= set(self.ledger.starts()), "the flows to start", timeout=timeout)
