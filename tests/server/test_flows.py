"""``/api/flows`` (server/api/flows.py)."""

from __future__ import annotations

import uuid

import pytest

from sluice.errors import ConfigurationError, ObjectNotFound


def test_create_flow_is_idempotent_by_name(api):
    first = api.post("/api/flows/", json={"name": "etl", "tags": ["a"]})
    again = api.post("/api/flows/", json={"name": "etl"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["tags"] == ["a"]


def test_read_flow_by_id_and_by_name(client):
    flow = client.create_flow("etl")
    assert client.read_flow(flow.id).name == "etl"
    assert client.read_flow_by_name("etl").id == flow.id


def test_unknown_flow_is_404_with_detail(api):
    response = api.get(f"/api/flows/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]
    assert api.get("/api/flows/name/nope").status_code == 404


def test_filter_flows_by_name_and_tags_with_paging(client):
    for name, tags in [("a", ["x"]), ("b", ["y"]), ("c", ["x", "y"])]:
        client.create_flow(name, tags)
    assert [f.name for f in client.filter_flows(tags_any=["x"])] == ["a", "c"]
    assert [f.name for f in client.filter_flows(names=["b", "c"])] == ["b", "c"]
    assert [f.name for f in client.filter_flows(limit=1, offset=1)] == ["b"]
    assert [f.name for f in client.filter_flows(sort="NAME_DESC")][:1] == ["c"]


def test_delete_flow_deletes_its_deployments(client):
    flow = client.create_flow("etl")
    deployment = client.create_deployment("d", flow.id)
    client.delete_flow(flow.id)
    with pytest.raises(ObjectNotFound):
        client.read_deployment(deployment.id)


def test_flow_name_with_a_slash_is_422(client):
    with pytest.raises(ConfigurationError):
        client.create_flow("a/b")
