"""``/api/work_queues`` (server/api/work_queues.py)."""

from __future__ import annotations

import uuid

import pytest

from sluice.errors import ObjectAlreadyExists, ObjectNotFound


def test_create_read_and_read_by_name(client):
    queue = client.create_work_queue("gpu", description="big boxes", concurrency_limit=2, filter=["gpu"])
    assert client.read_work_queue(queue.id).name == "gpu"
    found = client.read_work_queue_by_name("gpu")
    assert (found.description, found.concurrency_limit, found.filter, found.is_paused) == (
        "big boxes",
        2,
        ["gpu"],
        False,
    )


def test_duplicate_name_is_409(api):
    assert api.post("/api/work_queues/", json={"name": "q"}).status_code == 201
    response = api.post("/api/work_queues/", json={"name": "q"})
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_patch_pauses_and_renames(client):
    queue = client.create_work_queue("q")
    paused = client.update_work_queue(queue.id, is_paused=True, priority=5)
    assert paused.is_paused is True and paused.priority == 5
    assert client.update_work_queue(queue.id, name="q2").name == "q2"
    client.create_work_queue("q3")
    with pytest.raises(ObjectAlreadyExists):
        client.update_work_queue(queue.id, name="q3")


def test_concurrency_limit_can_be_cleared(client):
    queue = client.create_work_queue("q", concurrency_limit=3)
    assert client.update_work_queue(queue.id, concurrency_limit=None).concurrency_limit is None


def test_filter_by_names_and_pause(client):
    client.create_work_queue("a")
    client.create_work_queue("b", is_paused=True)
    assert [q.name for q in client.filter_work_queues(is_paused=True)] == ["b"]
    assert [q.name for q in client.filter_work_queues(names=["a"])] == ["a"]


def test_delete_and_unknown_is_404(client):
    queue = client.create_work_queue("q")
    client.delete_work_queue(queue.id)
    with pytest.raises(ObjectNotFound):
        client.read_work_queue(queue.id)
    with pytest.raises(ObjectNotFound):
        client.read_work_queue(uuid.uuid4())
