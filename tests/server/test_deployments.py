"""``/api/deployments`` (server/api/deployments.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sluice.errors import ConfigurationError, ObjectNotFound


def test_upsert_keeps_the_id_replaces_fields_and_bumps_updated(client, flow):
    first = client.create_deployment("nightly", flow.id, description="one", tags=["a"], parameters={"x": 1})
    second = client.create_deployment("nightly", flow.id, description="two")
    assert second.id == first.id
    assert second.description == "two"
    assert second.tags == [] and second.parameters == {}  # fields are replaced, not merged
    assert second.updated > first.updated
    assert second.created == first.created


def test_upsert_answers_201_then_200(api, flow):
    body = {"name": "nightly", "flow_id": str(flow.id)}
    assert api.post("/api/deployments/", json=body).status_code == 201
    assert api.post("/api/deployments/", json=body).status_code == 200


def test_create_with_flow_name_creates_the_flow(client):
    deployment = client.create_deployment("d", flow_name="brand-new")
    assert client.read_flow_by_name("brand-new").id == deployment.flow_id
    assert deployment.flow_name == "brand-new"


def test_creating_a_deployment_creates_its_work_queue(client, deployment):
    assert client.read_work_queue_by_name("etl-queue").name == "etl-queue"


def test_deployment_has_every_field_of_the_api_representation(api, deployment):
    data = api.get(f"/api/deployments/{deployment.id}").json()
    expected = {
        "id", "created", "updated", "name", "version", "description", "flow_id", "schedule",
        "is_schedule_active", "infra_overrides", "parameters", "tags", "work_queue_name",
        "parameter_openapi_schema", "path", "entrypoint", "manifest_path", "storage_document_id",
        "infrastructure_document_id", "infrastructure", "catchup", "schedules", "max_lateness",
        "concurrency_limit",
    }  # fmt: skip
    assert expected <= set(data)


def test_read_by_flow_and_deployment_name(client, deployment):
    assert client.read_deployment_by_name("etl/nightly").id == deployment.id
    with pytest.raises(ObjectNotFound, match="etl/other not found"):
        client.read_deployment_by_name("etl/other")


def test_unknown_flow_id_is_404(client):
    with pytest.raises(ObjectNotFound):
        client.create_deployment("d", uuid.uuid4())


def test_filter_by_flow_names_tags_queue_and_schedule(client):
    client.create_deployment("a", flow_name="f1", tags=["x", "y"], work_queue_name="q1")
    client.create_deployment("b", flow_name="f1", tags=["x"], work_queue_name="q2", is_schedule_active=False)
    client.create_deployment("c", flow_name="f2", tags=["y"], work_queue_name="q1")
    names = lambda **criteria: [d.name for d in client.filter_deployments(**criteria)]  # noqa: E731
    assert names(flow_names=["f1"]) == ["a", "b"]
    assert names(tags_any=["y"]) == ["a", "c"]
    assert names(tags_all=["x", "y"]) == ["a"]
    assert names(work_queue_names=["q1"]) == ["a", "c"]
    assert names(is_schedule_active=False) == ["b"]
    assert names(sort="NAME_DESC", limit=2) == ["c", "b"]
    assert names(offset=2) == ["c"]


def test_patch_changes_only_given_fields(client, deployment):
    updated = client.update_deployment(deployment.id, description="new", tags=["z"])
    assert updated.description == "new" and updated.tags == ["z"]
    assert updated.parameters == {"rows": 10}
    assert updated.id == deployment.id


def test_set_schedule_inactive_and_active(client, deployment):
    assert client.set_deployment_schedule_active(deployment.id, False).is_schedule_active is False
    assert client.set_deployment_schedule_active(deployment.id, True).is_schedule_active is True


def test_delete_deployment(client, deployment):
    client.delete_deployment(deployment.id)
    with pytest.raises(ObjectNotFound):
        client.read_deployment(deployment.id)
    with pytest.raises(ObjectNotFound):
        client.delete_deployment(deployment.id)


def test_create_flow_run_merges_parameters_over_defaults(client, deployment):
    run = client.create_flow_run_from_deployment(deployment.id, {"mode": "delta"})
    assert run.parameters == {"rows": 10, "mode": "delta"}
    assert run.deployment_id == deployment.id
    assert run.work_queue_name == "etl-queue"
    assert run.tags == ["etl", "nightly"]
    assert run.state_type == "SCHEDULED" and run.state.name == "Scheduled"
    assert "-" in run.name


def test_wrong_parameter_is_422_naming_it(api, deployment):
    response = api.post(f"/api/deployments/{deployment.id}/create_flow_run", json={"parameters": {"rows": "ten"}})
    assert response.status_code == 422
    assert "'rows'" in response.json()["detail"]
    assert "integer" in response.json()["detail"]


def test_missing_required_parameter_is_named(client, flow):
    schema = {"type": "object", "properties": {"rows": {"type": "integer"}}, "required": ["rows"]}
    deployment = client.create_deployment("bare", flow.id, parameter_openapi_schema=schema)
    with pytest.raises(ConfigurationError, match="missing required parameter 'rows'"):
        client.create_flow_run_from_deployment(deployment.id)


def test_invalid_parameter_schema_is_422(client, flow):
    with pytest.raises(ConfigurationError, match="not a valid JSON schema"):
        client.create_deployment("bad", flow.id, parameter_openapi_schema={"type": 12})


def test_create_flow_run_with_scheduled_time_tags_name_and_key(client, deployment):
    later = datetime.now(UTC) + timedelta(hours=1)
    run = client.create_flow_run_from_deployment(
        deployment.id,
        state={"type": "SCHEDULED", "scheduled_time": later.isoformat()},
        tags=["manual"],
        name="my-run",
        idempotency_key="k1",
    )
    assert run.expected_start_time == later and run.next_scheduled_start_time == later
    assert run.tags == ["manual"] and run.name == "my-run"
    again = client.create_flow_run_from_deployment(deployment.id, idempotency_key="k1")
    assert again.id == run.id


def test_idempotent_create_flow_run_answers_200(api, deployment):
    path = f"/api/deployments/{deployment.id}/create_flow_run"
    assert api.post(path, json={"idempotency_key": "k"}).status_code == 201
    assert api.post(path, json={"idempotency_key": "k"}).status_code == 200


def test_create_flow_run_of_unknown_deployment_is_404(api):
    assert api.post(f"/api/deployments/{uuid.uuid4()}/create_flow_run", json={}).status_code == 404


def test_unknown_block_document_reference_is_404(client, flow):
    with pytest.raises(ObjectNotFound, match="block document"):
        client.create_deployment("d", flow.id, storage_document_id=uuid.uuid4())


def test_deployment_parameters_larger_than_a_mebibyte_are_a_413_and_nothing_changes(api, deployment):
    body = {"name": "nightly", "flow_name": "etl", "parameters": {"rows": "x" * 1_100_000}}

    created = api.post("/api/deployments/", json=body)
    updated = api.patch(f"/api/deployments/{deployment.id}", json={"parameters": body["parameters"]})

    assert (created.status_code, updated.status_code) == (413, 413)
    assert "more than the server's limit of 1048576 (SLUICE_SERVER_MAX_PARAMETERS_BYTES)" in created.json()["detail"]
    assert api.get(f"/api/deployments/{deployment.id}").json()["parameters"] == {"rows": 10}


def test_a_run_whose_parameters_with_the_defaults_pass_the_limit_is_a_413(api, deployment):
    big = {"rows": 1, "mode": "x" * 1_100_000}

    response = api.post(f"/api/deployments/{deployment.id}/create_flow_run", json={"parameters": big})

    assert response.status_code == 413
    assert response.json()["detail"].startswith("the parameters of a run of deployment 'nightly' are ")
    assert api.post("/api/flow_runs/filter", json={}).json() == []
