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


# -- secret infra_overrides --------------------------------------------------------------------------------

SECRET_OVERRIDES = {
    "env.AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "env.LOG_LEVEL": "DEBUG",
    "env": {"GITHUB_TOKEN": "github-token-value", "HOME": "/tmp"},
    "image_registry.password": "registry-password-value",
}
MASKED_OVERRIDES = {
    "env.AWS_SECRET_ACCESS_KEY": "********",
    "env.LOG_LEVEL": "DEBUG",
    "env": {"GITHUB_TOKEN": "********", "HOME": "/tmp"},
    "image_registry.password": "********",
}


@pytest.fixture
def secret_deployment(api):
    """``etl/secret`` with secret-looking and plain overrides; the creation's answer."""
    body = {"name": "secret", "flow_name": "etl", "infra_overrides": SECRET_OVERRIDES}
    response = api.post("/api/deployments/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_secret_looking_overrides_are_masked_in_every_answer(api, secret_deployment):
    deployment_id = secret_deployment["id"]
    answers = [
        secret_deployment,
        api.get(f"/api/deployments/{deployment_id}").json(),
        api.get("/api/deployments/name/etl/secret").json(),
        api.post("/api/deployments/filter", json={}).json()[0],
        api.patch(f"/api/deployments/{deployment_id}", json={"description": "d"}).json(),
        api.post(f"/api/deployments/{deployment_id}/set_schedule_inactive").json(),
    ]
    for answer in answers:
        assert answer["infra_overrides"] == MASKED_OVERRIDES


def test_secret_overrides_are_stored_encrypted(app, secret_deployment):
    from sqlalchemy import select

    from sluice.server.database.tables import DeploymentTable

    with app.state.database.read_session() as session:
        stored = session.scalar(select(DeploymentTable.infra_overrides))
    assert stored["env.LOG_LEVEL"] == "DEBUG"
    assert stored["env.AWS_SECRET_ACCESS_KEY"].startswith("sluice-encrypted:")
    assert stored["env"]["GITHUB_TOKEN"].startswith("sluice-encrypted:")
    assert "value" not in str(stored)


def test_include_secrets_answers_the_values(api, secret_deployment):
    by_id = api.get(f"/api/deployments/{secret_deployment['id']}", params={"include_secrets": "true"})
    by_name = api.get("/api/deployments/name/etl/secret", params={"include_secrets": "true"})

    assert by_id.json()["infra_overrides"] == SECRET_OVERRIDES
    assert by_name.json()["infra_overrides"] == SECRET_OVERRIDES


def test_sending_the_masked_overrides_back_keeps_the_stored_values(api, client, secret_deployment):
    changed = {**MASKED_OVERRIDES, "env.LOG_LEVEL": "INFO"}

    patched = api.patch(f"/api/deployments/{secret_deployment['id']}", json={"infra_overrides": changed})
    upserted = api.post("/api/deployments/", json={"name": "secret", "flow_name": "etl", "infra_overrides": changed})

    assert (patched.status_code, upserted.status_code) == (200, 200)
    revealed = client.read_deployment(secret_deployment["id"], include_secrets=True).infra_overrides
    assert revealed == {**SECRET_OVERRIDES, "env.LOG_LEVEL": "INFO"}


def test_a_new_value_for_a_secret_override_replaces_the_stored_one(api, client, secret_deployment):
    changed = {**MASKED_OVERRIDES, "env.AWS_SECRET_ACCESS_KEY": "rotated"}

    api.patch(f"/api/deployments/{secret_deployment['id']}", json={"infra_overrides": changed})

    revealed = client.read_deployment_by_name("etl/secret", include_secrets=True).infra_overrides
    assert revealed["env.AWS_SECRET_ACCESS_KEY"] == "rotated"


def test_the_mask_for_a_secret_override_with_no_stored_value_is_a_422_and_changes_nothing(api, secret_deployment):
    changed = {**MASKED_OVERRIDES, "env.NEW_API_KEY": "********"}

    response = api.patch(f"/api/deployments/{secret_deployment['id']}", json={"infra_overrides": changed})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "infra_overrides 'env.NEW_API_KEY' holds the mask '********' and there is no stored value to keep: "
        "send the value itself"
    )
    revealed = api.get("/api/deployments/name/etl/secret", params={"include_secrets": "true"}).json()
    assert revealed["infra_overrides"] == SECRET_OVERRIDES


def test_overrides_stored_in_clear_by_an_older_server_are_masked(app, api, secret_deployment):
    from sqlalchemy import update

    from sluice.server.database.tables import DeploymentTable

    with app.state.database.session() as session:
        session.execute(update(DeploymentTable).values(infra_overrides={"env.DB_PASSWORD": "in-clear"}))
        session.commit()

    shown = api.get(f"/api/deployments/{secret_deployment['id']}").json()["infra_overrides"]
    revealed = api.get(f"/api/deployments/{secret_deployment['id']}", params={"include_secrets": "true"}).json()

    assert shown == {"env.DB_PASSWORD": "********"}
    assert revealed["infra_overrides"] == {"env.DB_PASSWORD": "in-clear"}
