"""The reporter (sluice/reporting.py) on the embedded API: reports wait on disk while the API is away.

"Away" is real: the client is pointed at a loopback port nothing listens on, so connections are
refused; "back" points it at the embedded API again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from sluice.backoff import Backoff, GaveUp
from sluice.client import SluiceClient, get_client
from sluice.errors import APIUnavailable
from sluice.reporting import Reporter, deliver_report
from sluice.runner import new_state
from sluice.spool import Spool
from tests.e2e.processes import free_port

FAST = Backoff(initial=0.01, maximum=0.05)


@pytest.fixture
def run() -> Any:
    """A RUNNING flow run on the embedded API."""
    with get_client() as client:
        flow = client.create_flow("reported")
        return client.create_flow_run(flow.id, state="RUNNING")


@pytest.fixture
def away(monkeypatch: pytest.MonkeyPatch) -> str:
    """Make every new client (and the reporter's sends) refused; ``monkeypatch.delenv`` brings it back."""
    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("SLUICE_API_URL", url)
    return url


def record(run: Any, message: str) -> dict[str, Any]:
    """A log record as the log shipper makes it."""
    stamp = datetime.now(UTC).isoformat()
    return {"flow_run_id": str(run.id), "level": 20, "name": "t", "message": message, "timestamp": stamp,
            "client_id": str(uuid4())}  # fmt: skip


def test_while_the_api_answers_reports_go_straight_to_it_and_nothing_is_written(run: Any, tmp_path: Path) -> None:
    reporter = Reporter(Spool(tmp_path / "spool"))
    reporter.ship_logs([record(run, "hello")])
    with get_client() as client:
        assert reporter.propose_state(client, run.id, new_state("COMPLETED")).status == "ACCEPT"
        assert [log.message for log in client.filter_logs(run.id)] == ["hello"]
    assert not (tmp_path / "spool").exists()


def test_reports_made_while_the_api_is_away_wait_on_disk_and_arrive_in_order_with_their_time(
    run: Any, tmp_path: Path, away: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter = Reporter(Spool(tmp_path / "spool"), backoff=FAST)
    completed = new_state("COMPLETED")
    with get_client() as unreachable:
        reporter.ship_logs([record(run, "first")])
        assert reporter.propose_state(unreachable, run.id, completed) is None
        reporter.ship_logs([record(run, "last")])
    assert reporter.pending() == 3
    monkeypatch.delenv("SLUICE_API_URL")
    assert reporter.wait_delivered(time.monotonic() + 60)
    with get_client() as client:
        finished = client.read_flow_run(run.id)
        assert finished.state.type.value == "COMPLETED"
        assert finished.state.timestamp == completed.timestamp  # when it happened, not when it arrived
        assert [log.message for log in client.filter_logs(run.id)] == ["first", "last"]
    assert reporter.pending() == 0


def test_reports_whose_answer_was_lost_are_sent_again_and_recorded_once(
    run: Any, tmp_path: Path, away: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost: set[str] = set()

    def answer_lost_the_first_time(entry: dict[str, Any]) -> None:
        deliver_report(entry)  # the API stores it…
        if entry["kind"] not in lost:
            lost.add(entry["kind"])
            raise APIUnavailable("the answer never came back")  # …but the reporter cannot know

    reporter = Reporter(Spool(tmp_path / "spool"), deliver=answer_lost_the_first_time, backoff=FAST)
    with get_client() as unreachable:
        reporter.ship_logs([record(run, "once"), record(run, "twice?")])
        reporter.propose_state(unreachable, run.id, new_state("COMPLETED"))
    monkeypatch.delenv("SLUICE_API_URL")
    assert reporter.wait_delivered(time.monotonic() + 60)
    assert lost == {"logs", "state"}
    with get_client() as client:
        assert [log.message for log in client.filter_logs(run.id)] == ["once", "twice?"]
        assert [entry.type.value for entry in client.read_flow_run_states(run.id)] == ["RUNNING", "COMPLETED"]


class RefusedFirst(httpx.BaseTransport):
    """The embedded API, but the first ``refusals`` connections are refused (a server restarting)."""

    def __init__(self, refusals: int) -> None:
        from sluice.embedded import EmbeddedTransport, embedded_app
        from sluice.settings import get_settings

        self.refusals = refusals
        self.inner = EmbeddedTransport(embedded_app(get_settings()), timeout=60)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.refusals:
            self.refusals -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return self.inner.handle_request(request)


def test_starting_retries_through_a_short_outage(tmp_path: Path) -> None:
    with get_client() as client:
        pending = client.create_flow_run(client.create_flow("starting").id, state="PENDING")
    reporter = Reporter(Spool(tmp_path / "spool"), backoff=FAST)
    with SluiceClient(transport=RefusedFirst(refusals=3)) as restarting:
        result = reporter.start_state(restarting, pending.id, new_state("RUNNING"), time.monotonic() + 60)
    assert result.status == "ACCEPT" and result.state.type.value == "RUNNING"


def test_starting_gives_up_at_its_deadline(run: Any, tmp_path: Path, away: str) -> None:
    reporter = Reporter(Spool(tmp_path / "spool"), backoff=FAST)
    with get_client() as unreachable, pytest.raises(GaveUp, match="cannot reach the Sluice API"):
        reporter.start_state(unreachable, run.id, new_state("RUNNING"), time.monotonic() + 0.1)


def test_a_run_that_proposed_a_final_state_is_ending(run: Any, tmp_path: Path) -> None:
    reporter = Reporter(Spool(tmp_path / "spool"))
    with get_client() as client:
        reporter.propose_state(client, run.id, new_state("SCHEDULED", name="AwaitingRetry"))
        assert not reporter.is_ending(run.id)
        reporter.propose_state(client, run.id, new_state("FAILED"))
    assert reporter.is_ending(run.id)


def test_task_runs_reported_while_the_api_is_away_wait_on_disk_and_arrive_once_with_their_times(
    run: Any, tmp_path: Path, away: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter = Reporter(Spool(tmp_path / "spool"), backoff=FAST)
    task_run_id, started = uuid4(), datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    created = {"id": str(task_run_id), "name": "t-0", "flow_run_id": str(run.id), "task_key": "m.t",
               "state": {"type": "PENDING", "id": str(uuid4()), "timestamp": started.isoformat()}}  # fmt: skip
    running = {"task_run_id": str(task_run_id), "state": {"type": "RUNNING", "id": str(uuid4())}}
    reporter.report_task_runs([created], [running])
    assert reporter.pending() == 1
    monkeypatch.delenv("SLUICE_API_URL")
    assert reporter.wait_delivered(time.monotonic() + 60)
    deliver_report({"kind": "task_runs", "task_runs": [created], "states": [running]})  # sent again: no change
    with get_client() as client:
        (task_run,) = client.filter_task_runs(flow_run_ids=[run.id])
        assert task_run.expected_start_time == started
        assert [state.type.value for state in client.read_task_run_states(task_run_id)] == ["PENDING", "RUNNING"]
