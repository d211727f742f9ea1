"""``/api/logs`` (server/api/logs.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sluice.errors import ObjectNotFound


@pytest.fixture
def run(client, flow):
    return client.create_flow_run(flow.id, state="RUNNING")


def test_logs_come_back_in_timestamp_order_then_arrival(client, run):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        {"flow_run_id": run.id, "message": "second", "timestamp": t0 + timedelta(seconds=1)},
        {"flow_run_id": run.id, "message": "first", "timestamp": t0},
        {"flow_run_id": run.id, "message": "third", "timestamp": t0 + timedelta(seconds=1)},
    ]
    assert client.create_logs(records) == 3
    assert [log.message for log in client.filter_logs(run.id)] == ["first", "second", "third"]


def test_logs_are_paginated_and_filtered_by_run_and_level(client, run, flow):
    other = client.create_flow_run(flow.id)
    now = datetime.now(UTC)
    client.create_logs(
        [{"flow_run_id": run.id, "message": f"m{i}", "level": 10 * (i % 5 + 1), "timestamp": now} for i in range(10)]
        + [{"flow_run_id": other.id, "message": "other", "timestamp": now}]
    )
    assert [log.message for log in client.filter_logs(run.id, limit=3, offset=2)] == ["m2", "m3", "m4"]
    assert all(log.level >= 40 for log in client.filter_logs(run.id, level_ge=40))
    assert [log.message for log in client.filter_logs(other.id)] == ["other"]
    assert client.filter_logs(run.id, descending=True)[0].message == "m9"


def test_logs_of_an_unknown_run_are_404_and_not_stored(client, run):
    records = [
        {"flow_run_id": run.id, "message": "kept?", "timestamp": datetime.now(UTC)},
        {"flow_run_id": uuid.uuid4(), "message": "lost", "timestamp": datetime.now(UTC)},
    ]
    with pytest.raises(ObjectNotFound):
        client.create_logs(records)
    assert client.filter_logs(run.id) == []


def test_empty_batch_is_fine(api):
    assert api.post("/api/logs/", json=[]).status_code == 201


def test_deleting_a_run_deletes_its_logs(client, run):
    client.create_logs([{"flow_run_id": run.id, "message": "x", "timestamp": datetime.now(UTC)}])
    client.delete_flow_run(run.id)
    assert client.filter_logs(run.id) == []


def _record(run_id, message="x"):
    return {"flow_run_id": str(run_id), "message": message, "timestamp": "2026-01-01T00:00:00Z"}


def test_more_than_a_thousand_records_in_one_request_is_a_413_and_nothing_is_stored(api, client, run):
    response = api.post("/api/logs/", json=[_record(run.id)] * 1001)

    assert response.status_code == 413
    assert response.json()["detail"] == (
        "at most 1000 log records per request, got 1001: send them in several requests"
    )
    assert client.filter_logs(run.id) == []


def test_a_message_longer_than_100_000_characters_is_stored_cut_with_a_note(api, client, run):
    response = api.post("/api/logs/", json=[_record(run.id, "x" * 250_000)])

    assert response.status_code == 201
    (stored,) = client.filter_logs(run.id)
    assert len(stored.message) <= 100_000
    assert stored.message.endswith(" … [cut: 150040 more characters]")
    assert stored.message.startswith("x" * 99_960)


def test_the_log_shipper_never_sends_a_batch_the_server_refuses(client, run, capsys):
    from sluice.logging import LogShipper

    shipper = LogShipper(send=client.create_logs)
    messages = ["é" * 100_000] * 40  # 8 MB as UTF-8: more than one request may carry
    messages += ["a file name that is not UTF-8: \udcff", "y" * 300_000]
    messages += [f"line {index}" for index in range(2500)]
    for message in messages:
        shipper.add(run.id, 20, "sluice", message, 1_767_225_600.0)
    shipper.flush()

    assert "could not ship" not in capsys.readouterr().err
    stored = client.filter_logs(run.id, limit=1000)
    while len(stored) < len(messages) and len(stored) % 1000 == 0:
        stored += client.filter_logs(run.id, limit=1000, offset=len(stored))
    assert len(stored) == len(messages)
    assert stored[40].message == "a file name that is not UTF-8: \ufffd"
    assert stored[41].message.endswith("more characters]")


def test_a_batch_sent_again_after_a_lost_answer_stores_each_record_once(client, run):
    now = datetime.now(UTC)
    batch = [{"flow_run_id": run.id, "message": f"m{i}", "timestamp": now, "client_id": uuid.uuid4()} for i in range(3)]
    assert client.create_logs(batch) == 3
    extra = {"flow_run_id": run.id, "message": "m3", "timestamp": now, "client_id": uuid.uuid4()}
    assert client.create_logs([*batch, extra]) == 1  # the same batch again, grown by one record
    assert [log.message for log in client.filter_logs(run.id)] == ["m0", "m1", "m2", "m3"]
    assert client.filter_logs(run.id)[0].client_id == batch[0]["client_id"]


def test_a_record_repeated_in_one_batch_is_stored_once_and_records_without_an_id_always(client, run):
    now = datetime.now(UTC)
    record = {"flow_run_id": run.id, "message": "once", "timestamp": now, "client_id": uuid.uuid4()}
    plain = {"flow_run_id": run.id, "message": "plain", "timestamp": now}
    assert client.create_logs([record, record, plain, plain]) == 3
    assert sorted(log.message for log in client.filter_logs(run.id)) == ["once", "plain", "plain"]
