"""The log shipper: batches, the periodic flush, and failures that never fail a run."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sluice import logging as run_logging


def test_a_full_batch_is_sent_at_once_and_flush_sends_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_logging, "BATCH_SIZE", 3)
    sent: list[list[dict[str, Any]]] = []
    shipper = run_logging.LogShipper(send=sent.append)
    for index in range(4):
        shipper.add("00000000-0000-0000-0000-000000000001", 20, "sluice", f"m{index}", time.time())
    assert [[record["message"] for record in batch] for batch in sent] == [["m0", "m1", "m2"]]
    shipper.flush()
    assert [record["message"] for record in sent[-1]] == ["m3"]


def test_a_quiet_run_s_records_are_sent_by_the_periodic_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_logging, "BATCH_INTERVAL_SECONDS", 0.1)
    sent: list[list[dict[str, Any]]] = []
    flushed = threading.Event()

    def send(batch: list[dict[str, Any]]) -> None:
        sent.append(batch)
        flushed.set()

    shipper = run_logging.LogShipper(send=send)
    shipper.add("00000000-0000-0000-0000-000000000001", 20, "sluice", "alone", time.time())
    assert flushed.wait(10)
    assert sent and sent[0][0]["message"] == "alone"


def test_a_failure_to_send_is_reported_once_and_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(batch: list[dict[str, Any]]) -> None:
        raise ConnectionError("down")

    shipper = run_logging.LogShipper(send=broken)
    for _ in range(2):
        shipper.add("00000000-0000-0000-0000-000000000001", 20, "sluice", "x", time.time())
        shipper.flush()
    assert capsys.readouterr().err.count("could not ship flow run logs to the API: down") == 1


def test_each_record_carries_an_id_of_its_own_so_that_sending_it_again_stores_it_once() -> None:
    sent: list[list[dict[str, Any]]] = []
    shipper = run_logging.LogShipper(send=sent.append)
    for _ in range(3):
        shipper.add("00000000-0000-0000-0000-000000000001", 20, "sluice", "same text", time.time())
    shipper.flush()
    ids = [record["client_id"] for record in sent[0]]
    assert len(set(ids)) == 3
