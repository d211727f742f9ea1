"""The three things every chaos scenario proves once the system is back and has settled.

- **Nothing lost**: every run the scenario created exists and reached the final state expected of it,
  and every log line its flow wrote before it ended is stored.
- **Nothing duplicated**: each run's flow executed as often as expected (once, unless a scenario
  retries it), its history holds one RUNNING per execution and one final state, and no log line is
  stored twice.
- **Nothing stuck**: no run of the scenario's deployments is left PENDING, RUNNING or CANCELLING, and
  no process a flow started (its engine, its children) is still alive.

``Settlement`` gathers what a scenario expects of each run, waits (with a deadline) for the runs to end,
then checks everything and reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.chaos.site import Ledger
from tests.e2e.processes import wait_until

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
ACTIVE = ["PENDING", "RUNNING", "CANCELLING"]


@dataclass(frozen=True)
class Expected:
    """What a run must look like once settled."""

    state: str
    executions: int = 1
    lines: int = 0  # its flow logged ``line 0`` … ``line <lines - 1>`` (once per execution, each with its pid)
    message: str | None = None  # a text its final state's message holds


class Settlement:
    """The expectations of one scenario, checked against the API and the ledger."""

    def __init__(self, client: Any, ledger: Ledger) -> None:
        self.client = client
        self.ledger = ledger
        self.expected: dict[str, Expected] = {}

    def expect(self, runs: Iterable[Any], state: str, **details: Any) -> None:
        """Expect each of ``runs`` (runs or run ids) to end ``state`` (see ``Expected`` for ``details``)."""
        for run in runs:
            self.expected[str(getattr(run, "id", run))] = Expected(state, **details)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait until every expected run is in a final state, and every process its flow started has exited."""

        def ended() -> bool:
            return all(self._state(run_id) in FINAL for run_id in self.expected)

        wait_until(ended, f"{len(self.expected)} runs to reach a final state", timeout=timeout, interval=0.25)

        def exited() -> bool:
            return not any(self.ledger.live_pids(run_id) for run_id in self.expected)

        try:  # an engine exits just after its final state is recorded
            wait_until(exited, "the flows' processes to exit", timeout=timeout)
        except AssertionError:
            pass  # reported by ``stuck``

    def check(self, deployment_ids: Iterable[Any], timeout: float = 60.0, context: str = "") -> None:
        """Wait for the runs to end, then assert nothing lost, nothing duplicated, nothing stuck."""
        try:
            self.wait(timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self._states()}\n{context}") from None
        problems = self.lost() + self.duplicated() + self.stuck(deployment_ids)
        assert not problems, "\n".join(problems) + f"\n{context}"

    # -- the three checks ------------------------------------------------------------------------

    def lost(self) -> list[str]:
        """Runs missing, in another final state than expected, or missing log lines."""
        problems = []
        for run_id, expected in self.expected.items():
            run = self.client.read_flow_run(run_id)  # raises ObjectNotFound for a run that vanished
            state = run.state.type.value
            if state != expected.state:
                problems.append(f"lost: run {run_id} is {state} ({run.state.message}), expected {expected.state}")
            elif expected.message and expected.message not in (run.state.message or ""):
                problems.append(f"lost: run {run_id}'s message {run.state.message!r} lacks {expected.message!r}")
            numbers = {line.split()[1] for line in self._lines(run_id)}
            missing = [f"line {n}" for n in range(expected.lines) if str(n) not in numbers]
            if missing:
                problems.append(f"lost: run {run_id}'s log lines {missing} are not stored")
        return problems

    def duplicated(self) -> list[str]:
        """Runs executed more (or fewer) times than expected or with a history that says so; log lines stored twice."""
        problems = []
        starts = self.ledger.starts()
        for run_id, expected in self.expected.items():
            if starts[run_id] != expected.executions:
                problems.append(
                    f"duplicated: run {run_id}'s flow started {starts[run_id]}x, expected {expected.executions}"
                )
            if self.ledger.overlapping(run_id):
                problems.append(f"duplicated: run {run_id}'s flow started again before its earlier execution ended")
            history = [entry.type.value for entry in self.client.read_flow_run_states(run_id)]
            finals = [state for state in history if state in FINAL]
            if len(finals) != expected.executions:
                problems.append(f"duplicated: run {run_id}'s history {history} has {len(finals)} final state(s)")
            if history.count("RUNNING") > expected.executions:
                problems.append(
                    f"duplicated: run {run_id}'s history {history} runs it more than {expected.executions}x"
                )
            lines = self._lines(run_id)
            twice = sorted({line for line in lines if lines.count(line) > 1})
            if twice:
                problems.append(f"duplicated: run {run_id}'s log lines {twice} are stored more than once")
        return problems

    def stuck(self, deployment_ids: Iterable[Any]) -> list[str]:
        """Active runs of the deployments, and processes the flows started that are still alive."""
        problems = []
        active = self.client.filter_flow_runs(deployment_ids=list(deployment_ids), state_types=ACTIVE)
        for run in active:
            problems.append(f"stuck: run {run.id} is still {run.state.type.value} ({run.state.message})")
        for pid in sorted(self.ledger.live_pids()):
            problems.append(f"stuck: process {pid} a flow started is still alive")
        return problems

    # -- reading ---------------------------------------------------------------------------------

    def _state(self, run_id: str) -> str | None:
        state = self.client.read_flow_run(run_id).state
        return state.type.value if state is not None else None

    def _states(self) -> dict[str, str | None]:
        return {run_id: self._state(run_id) for run_id in self.expected}

    def _lines(self, run_id: str) -> list[str]:
        return [log.message for log in self.client.filter_logs(run_id, limit=1000) if log.message.startswith("line ")]
