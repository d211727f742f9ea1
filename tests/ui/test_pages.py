"""The UI's pages and forms through FastAPI's TestClient over ``create_app()``."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.ui.conftest import post_form


def runs_of(client: TestClient, deployment_id: str) -> list[dict[str, Any]]:
    response = client.post("/api/flow_runs/filter", json={"deployment_ids": [deployment_id]})
    return response.json()


def test_every_page_renders(client: TestClient, deployment: dict[str, Any]) -> None:
    run = client.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={}).json()
    queue = client.get("/api/work_queues/name/test").json()
    pages = [
        "/",
        "/deployments",
        f"/deployments/{deployment['id']}",
        f"/deployments/{deployment['id']}/run",
        f"/deployments/{deployment['id']}/edit",
        f"/deployments/{deployment['id']}/delete",
        "/flow-runs",
        f"/flow-runs/{run['id']}",
        "/work-queues",
        f"/work-queues/{queue['id']}",
        "/blocks",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, (page, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assert "/ui-static/style.css" in response.text


def test_static_files_are_served_from_the_package(client: TestClient) -> None:
    assert client.get("/ui-static/style.css").status_code == 200
    assert "liveRefresh" in client.get("/ui-static/ui.js").text


def test_unknown_deployment_is_a_404_page(client: TestClient) -> None:
    response = client.get("/deployments/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "not found" in response.text


def test_deployments_table_shows_schedule_in_words_queue_and_tags(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    html = client.get("/deployments").text
    assert "say-hi/</span>nightly" in html
    assert "at 09:00" in html.lower() or "09:00" in html
    assert 'class="tag">team-a' in html
    assert ">test<" in html


def test_deployments_filter_by_tag_and_text(client: TestClient, deployment: dict[str, Any]) -> None:
    client.post("/api/deployments/", json={"name": "other", "flow_name": "etl", "tags": ["team-b"]})
    by_tag = client.get("/deployments", params={"tag": "team-b"}).text
    assert "etl/" in by_tag and "say-hi/" not in by_tag
    by_text = client.get("/deployments", params={"q": "NIGHT"}).text
    assert "say-hi/" in by_text and "etl/" not in by_text
    nothing = client.get("/deployments", params={"q": "no-such-thing"}).text
    assert "match the filter" in nothing


def test_deployment_page_shows_every_field(client: TestClient, deployment: dict[str, Any]) -> None:
    html = client.get(f"/deployments/{deployment['id']}").text
    fields = ("parameter_openapi_schema", "infra_overrides", "storage_document_id", "entrypoint", "work_queue_name")
    for field in fields:
        assert f"<dt>{field}</dt>" in html
    assert "flows/hi.py:say_hi" in html


def test_script_in_a_description_is_escaped(client: TestClient) -> None:
    body = {"name": "xss", "flow_name": "evil", "description": "<script>alert('x')</script>", "tags": ["<b>t</b>"]}
    deployment = client.post("/api/deployments/", json=body).json()
    for page in (f"/deployments/{deployment['id']}", "/deployments"):
        html = client.get(page).text
        assert "<script>alert" not in html
        assert "<b>t</b>" not in html
    assert "&lt;script&gt;alert(" in client.get(f"/deployments/{deployment['id']}").text


def test_custom_run_form_is_generated_from_the_parameter_schema(client: TestClient, deployment: dict[str, Any]) -> None:
    html = client.get(f"/deployments/{deployment['id']}/run").text
    assert 'name="param.name" value="Marvin"' in html  # the schema's default
    assert 'name="param.count" value="2"' in html  # the deployment's default wins
    assert 'type="checkbox" id="param.loud"' in html
    assert '<select id="param.color"' in html and "&#34;green&#34;" in html
    assert '<textarea id="param.items"' in html and '<textarea id="param.options"' in html
    assert 'title="required">*</abbr>' in html  # count is required
    assert 'name="tags" value="team-a, prod"' in html
    assert 'name="start_time"' in html


def test_custom_run_creates_a_run_with_the_parameters(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}/run"
    data = {
        "param.name": "Arthur",
        "param.count": "7",
        "param.ratio": "1.5",
        "param.loud": ["false", "true"],
        "param.color": '"green"',
        "param.items": '["a", "b"]',
        "param.options": '{"x": 1}',
        "tags": "ui, manual",
        "start_time": "",
    }
    response = post_form(client, page, page, data)
    assert response.status_code == 303
    run_id = response.headers["location"].rsplit("/", 1)[1]
    run = client.get(f"/api/flow_runs/{run_id}").json()
    assert run["parameters"] == {
        "name": "Arthur",
        "count": 7,
        "ratio": 1.5,
        "loud": True,
        "color": "green",
        "items": ["a", "b"],
        "options": {"x": 1},
    }
    assert run["tags"] == ["ui", "manual"]
    assert run["state_type"] == "SCHEDULED"
    assert "Created run" in client.get(response.headers["location"]).text


def test_custom_run_with_a_start_time_schedules_it_then(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}/run"
    response = post_form(client, page, page, {"param.count": "1", "start_time": "2031-05-04T09:30"})
    run_id = response.headers["location"].rsplit("/", 1)[1]
    run = client.get(f"/api/flow_runs/{run_id}").json()
    assert run["expected_start_time"].startswith("2031-05-04T09:30:00")


def test_custom_run_invalid_integer_is_shown_inline_and_creates_nothing(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    page = f"/deployments/{deployment['id']}/run"
    response = post_form(client, page, page, {"param.count": "seven", "param.items": "[1,"})
    assert response.status_code == 422
    html = response.text
    assert 'id="error-param.count"' in html and "must be a whole number, not &#39;seven&#39;" in html
    assert 'id="error-param.items"' in html and "is not valid JSON" in html
    assert 'value="seven"' in html  # what was typed is kept
    assert runs_of(client, deployment["id"]) == []


def test_custom_run_schema_violation_is_shown_next_to_its_field(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}/run"
    response = post_form(client, page, page, {"param.count": "", "param.items": "[1, 2]"})
    assert response.status_code == 422
    assert 'id="error-param.count"' in response.text and "is required" in response.text
    assert 'id="error-param.items"' in response.text and "is not of type" in response.text
    assert runs_of(client, deployment["id"]) == []


def test_quick_run_uses_the_defaults(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}"
    response = post_form(client, page, f"{page}/quick-run", {})
    assert response.status_code == 303
    (run,) = runs_of(client, deployment["id"])
    assert run["parameters"] == {"count": 2}


def test_edit_is_persisted_through_the_api(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}/edit"
    data = {
        "description": "Now hourly.",
        "tags": "team-a, hourly",
        "work_queue_name": "fast",
        "param.name": "Zaphod",
        "param.count": "3",
        "param.loud": ["false", "true"],
        "param.color": '"green"',
        "schedule_kind": "interval",
        "schedule_interval": "3600",
        "schedule_timezone": "UTC",
    }
    response = post_form(client, page, page, data)
    assert response.status_code == 303, response.text
    stored = client.get(f"/api/deployments/{deployment['id']}").json()
    assert stored["description"] == "Now hourly."
    assert stored["tags"] == ["team-a", "hourly"]
    assert stored["work_queue_name"] == "fast"
    assert stored["parameters"] == {"name": "Zaphod", "count": 3, "loud": True, "color": "green"}
    assert stored["schedule"]["type"] == "interval"
    assert client.get("/api/work_queues/name/fast").status_code == 200


def test_edit_to_a_cron_schedule_and_back_to_none(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}/edit"
    base = {"work_queue_name": "test", "param.count": "2"}
    post_form(client, page, page, {**base, "schedule_kind": "cron", "schedule_cron": "*/5 * * * *"})
    assert client.get(f"/api/deployments/{deployment['id']}").json()["schedule"]["cron"] == "*/5 * * * *"
    post_form(client, page, page, {**base, "schedule_kind": "none"})
    assert client.get(f"/api/deployments/{deployment['id']}").json()["schedule"] is None


def test_edit_with_an_invalid_schedule_shows_the_error_and_changes_nothing(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    page = f"/deployments/{deployment['id']}/edit"
    data = {"description": "changed", "work_queue_name": "test", "schedule_kind": "cron", "schedule_cron": "61 * * *"}
    response = post_form(client, page, page, data)
    assert response.status_code == 422
    assert 'id="error-schedule"' in response.text
    assert client.get(f"/api/deployments/{deployment['id']}").json()["description"] == "Says hi every night."


def test_schedule_preview_lists_the_next_five_runs(client: TestClient, deployment: dict[str, Any]) -> None:
    answer = client.get("/ui/schedule-preview", params={"schedule_kind": "cron", "schedule_cron": "0 9 * * *"}).json()
    assert answer["ok"] and len(answer["dates"]) == 5
    assert all("T09:00:00" in date for date in answer["dates"])
    assert answer["description"]
    bad = client.get("/ui/schedule-preview", params={"schedule_kind": "rrule", "schedule_rrule": "FREQ=NEVER"}).json()
    assert not bad["ok"] and bad["error"] and bad["dates"] == []


def test_pause_and_resume_the_schedule(client: TestClient, deployment: dict[str, Any]) -> None:
    page = f"/deployments/{deployment['id']}"
    post_form(client, page, f"{page}/pause", {})
    assert client.get(f"/api/deployments/{deployment['id']}").json()["is_schedule_active"] is False
    assert "Resume schedule" in client.get(page).text
    post_form(client, page, f"{page}/resume", {})
    assert client.get(f"/api/deployments/{deployment['id']}").json()["is_schedule_active"] is True


def test_delete_asks_first_then_deletes(client: TestClient, deployment: dict[str, Any]) -> None:
    confirm = f"/deployments/{deployment['id']}/delete"
    assert "cannot be undone" in client.get(confirm).text
    assert client.get(f"/api/deployments/{deployment['id']}").status_code == 200
    response = post_form(client, confirm, confirm, {})
    assert response.status_code == 303 and response.headers["location"] == "/deployments"
    assert client.get(f"/api/deployments/{deployment['id']}").status_code == 404


def test_a_form_post_without_the_csrf_token_is_refused(client: TestClient, deployment: dict[str, Any]) -> None:
    client.get("/deployments")  # a session exists, with its token
    edit = f"/deployments/{deployment['id']}/edit"
    refused = client.post(edit, data={"description": "hacked", "work_queue_name": "x"}, follow_redirects=False)
    assert refused.status_code == 403
    wrong = client.post(
        f"/deployments/{deployment['id']}/quick-run", data={"csrf_token": "forged"}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert client.get(f"/api/deployments/{deployment['id']}").json()["description"] == "Says hi every night."
    assert runs_of(client, deployment["id"]) == []


def test_flow_runs_table_filters_by_state_deployment_flow_and_tag(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    first = client.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={"tags": ["red"]}).json()
    other = client.post("/api/deployments/", json={"name": "b", "flow_name": "etl"}).json()
    second = client.post(f"/api/deployments/{other['id']}/create_flow_run", json={}).json()
    client.post(
        f"/api/flow_runs/{second['id']}/set_state",
        json={"state": {"type": "RUNNING"}, "force": True},
    )
    assert first["name"] in client.get("/flow-runs").text and second["name"] in client.get("/flow-runs").text
    by_state = client.get("/flow-runs", params={"state": "RUNNING"}).text
    assert second["name"] in by_state and first["name"] not in by_state
    by_flow = client.get("/flow-runs/rows", params={"flow": "say-hi"}).text
    assert first["name"] in by_flow and second["name"] not in by_flow
    by_deployment = client.get("/flow-runs/rows", params={"deployment": other["id"]}).text
    assert second["name"] in by_deployment and first["name"] not in by_deployment
    by_tag = client.get("/flow-runs/rows", params={"tag": "red"}).text
    assert first["name"] in by_tag and second["name"] not in by_tag
    assert 'class="badge state-running"' in by_state


def test_run_page_shows_parameters_timeline_and_logs(client: TestClient, deployment: dict[str, Any]) -> None:
    run = client.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={"parameters": {"count": 5}}).json()
    client.post(f"/api/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}, "force": True})
    client.patch(f"/api/flow_runs/{run['id']}", json={"infrastructure_pid": "pid-4242"})
    log = {"flow_run_id": run["id"], "message": "Hello <world>", "timestamp": "2030-01-01T00:00:00Z"}
    client.post("/api/logs/", json=[log])
    html = client.get(f"/flow-runs/{run['id']}").text
    assert "pid-4242" in html and "&#34;count&#34;: 5" in html
    assert "Hello &lt;world&gt;" in html
    assert 'data-live-url="/flow-runs/' in html  # still running: the page keeps polling
    assert "Cancel run" in html
    live = client.get(f"/flow-runs/{run['id']}/live").text
    assert 'data-terminal="false"' in live and "Hello &lt;world&gt;" in live


def test_cancel_moves_a_running_run_to_cancelling(client: TestClient, deployment: dict[str, Any]) -> None:
    run = client.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={}).json()
    client.post(f"/api/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}, "force": True})
    page = f"/flow-runs/{run['id']}"
    response = post_form(client, page, f"{page}/cancel", {})
    assert response.status_code == 303
    assert client.get(f"/api/flow_runs/{run['id']}").json()["state_type"] == "CANCELLING"


def test_dashboard_counts_runs_by_state_and_draws_the_chart(client: TestClient, deployment: dict[str, Any]) -> None:
    for _ in range(2):
        run = client.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={}).json()
        client.post(f"/api/flow_runs/{run['id']}/set_state", json={"state": {"type": "FAILED"}, "force": True})
    html = client.get("/").text
    assert 'data-state="FAILED">2<' in html
    assert "<svg" in html and 'class="state-failed"' in html
    assert ">test</a>" in html  # the deployment's queue, with its health
    assert "never polled" in html


def test_work_queue_create_pause_and_limit(client: TestClient) -> None:
    response = post_form(client, "/work-queues", "/work-queues", {"name": "gpu", "concurrency_limit": "2"})
    assert response.status_code == 303
    queue = client.get("/api/work_queues/name/gpu").json()
    assert queue["concurrency_limit"] == 2
    page = f"/work-queues/{queue['id']}"
    post_form(client, page, f"{page}/pause", {})
    assert client.get("/api/work_queues/name/gpu").json()["is_paused"] is True
    post_form(client, page, f"{page}/settings", {"concurrency_limit": "", "description": "GPUs"})
    queue = client.get("/api/work_queues/name/gpu").json()
    assert queue["concurrency_limit"] is None and queue["description"] == "GPUs"
    again = post_form(client, "/work-queues", "/work-queues", {"name": "gpu", "concurrency_limit": "x"})
    assert again.status_code == 422 and "must be a whole number" in again.text


def _register_secret_block_type(client: TestClient) -> None:
    client.post("/api/block_types/", json={"slug": "vault-login", "name": "Vault login"})
    fields = {
        "title": "VaultLogin",
        "type": "object",
        "properties": {
            "url": {"title": "Url", "type": "string"},
            "password": {"title": "Password", "type": "string", "format": "password", "writeOnly": True},
            "retries": {"title": "Retries", "type": "integer", "default": 3},
        },
        "required": ["url", "password"],
    }
    client.post(
        "/api/block_schemas/", json={"block_type_slug": "vault-login", "fields": fields, "secret_fields": ["password"]}
    )


def test_block_create_and_edit_keeps_an_untouched_secret(client: TestClient) -> None:
    _register_secret_block_type(client)
    new = "/blocks/new?type=vault-login"
    assert 'type="password" id="block.password"' in client.get(new).text
    data = {"name": "prod", "block.url": "https://vault", "block.password": "s3cret-value", "block.retries": "5"}
    response = post_form(client, new, new, data)
    assert response.status_code == 303, response.text
    page = response.headers["location"]
    html = client.get(page).text
    assert "s3cret-value" not in html and "********" not in html
    assert "stored: leave empty to keep it" in html
    post_form(client, page, page, {"block.url": "https://vault2", "block.password": "", "block.retries": "6"})
    document_id = page.rsplit("/", 1)[1]
    stored = client.get(f"/api/block_documents/{document_id}", params={"include_secrets": "true"}).json()
    assert stored["data"] == {"url": "https://vault2", "password": "s3cret-value", "retries": 6}
    post_form(client, page, page, {"block.url": "https://vault2", "block.password": "new-one", "block.retries": "6"})
    stored = client.get(f"/api/block_documents/{document_id}", params={"include_secrets": "true"}).json()
    assert stored["data"]["password"] == "new-one"
    assert "vault-login" in client.get("/blocks").text


def test_block_create_requires_the_required_fields(client: TestClient) -> None:
    _register_secret_block_type(client)
    new = "/blocks/new?type=vault-login"
    response = post_form(client, new, new, {"name": "x", "block.url": "", "block.password": ""})
    assert response.status_code == 422
    assert 'id="error-block.password"' in response.text and 'id="error-block.url"' in response.text
    assert client.post("/api/block_documents/filter", json={}).json() == []


def test_work_queue_page_lists_the_agents_polling_it(client: TestClient, deployment: dict[str, Any]) -> None:
    client.post("/api/agents/", json={"name": "agent-on-gpu-box", "queues": ["test"]})
    client.post("/api/agents/", json={"name": "agent-elsewhere", "queues": ["other"]})
    queue = client.get("/api/work_queues/name/test").json()
    html = client.get(f"/work-queues/{queue['id']}").text
    assert "agent-on-gpu-box" in html and "agent-elsewhere" not in html


def test_an_installed_block_type_is_registered_when_its_first_document_is_saved(client: TestClient) -> None:
    new = "/blocks/new?type=process"
    assert client.get(new).status_code == 200
    assert client.get("/api/block_types/slug/process").status_code == 404  # showing the form changes nothing
    response = post_form(client, new, new, {"name": "local-runner"})
    assert response.status_code == 303, response.text
    document = client.get("/api/block_documents/name/process/local-runner").json()
    assert document["block_schema_id"] is not None


def test_edit_without_touching_the_schedule_keeps_every_schedule(client: TestClient) -> None:
    schedules = [
        {"schedule": {"type": "cron", "cron": "0 9 * * *"}, "active": True},
        {"schedule": {"type": "cron", "cron": "0 18 * * *"}, "active": True},
    ]
    body = {"name": "twice", "flow_name": "daily", "schedules": schedules}
    deployment = client.post("/api/deployments/", json=body).json()
    page = f"/deployments/{deployment['id']}/edit"
    assert "has 2 schedules" in client.get(page).text
    data = {"description": "still twice", "work_queue_name": "default", "schedule_kind": "cron"}
    response = post_form(client, page, page, {**data, "schedule_cron": "0 9 * * *", "schedule_timezone": "UTC"})
    assert response.status_code == 303, response.text
    stored = client.get(f"/api/deployments/{deployment['id']}").json()
    assert stored["description"] == "still twice" and len(stored["schedules"]) == 2


def test_an_overdue_scheduled_run_is_listed_as_late(client: TestClient, deployment: dict[str, Any]) -> None:
    past = "2020-01-01T00:00:00Z"
    body = {"state": {"type": "SCHEDULED", "scheduled_time": past}, "name": "forgotten-run"}
    client.post(f"/api/deployments/{deployment['id']}/create_flow_run", json=body)
    html = client.get("/").text
    late_section = html[html.index('id="late-runs"') :]
    assert "forgotten-run" in late_section and 'class="badge state-late"' in late_section


def test_cancel_of_a_run_not_started_yet_cancels_it(client: TestClient, deployment: dict[str, Any]) -> None:
    run = client.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={}).json()
    page = f"/flow-runs/{run['id']}"
    post_form(client, page, f"{page}/cancel", {})
    assert client.get(f"/api/flow_runs/{run['id']}").json()["state_type"] == "CANCELLED"
    assert "Run cancelled." in client.get(page).text


def test_an_api_refusal_a_page_did_not_expect_is_an_error_page(client: TestClient) -> None:
    response = client.get("/work-queues/not-a-uuid")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html") and "Error 422" in response.text


def test_a_deployment_stored_with_a_lone_surrogate_by_an_older_server_is_listed(
    client: TestClient, deployment: dict[str, Any]
) -> None:
    # Servers before the body checks kept "\ud800" as a JSON escape in SQLite; the page then failed.
    import sqlalchemy as sa

    database = client.app.state.database
    statement = sa.text("UPDATE deployment SET parameters = :value WHERE id = :id")
    with database.engine.begin() as connection:
        connection.execute(statement, {"value": '{"count": "\\ud800"}', "id": deployment["id"].replace("-", "")})

    response = client.get("/deployments")

    assert response.status_code == 200
    assert "nightly" in response.text


def test_the_deployment_page_shows_secret_overrides_masked(client: TestClient) -> None:
    body = {"name": "web", "flow_name": "say-hi", "infra_overrides": {"env.AWS_SECRET_ACCESS_KEY": "aws-secret-value"}}
    deployment = client.post("/api/deployments/", json=body).json()

    page = client.get(f"/deployments/{deployment['id']}").text

    assert "env.AWS_SECRET_ACCESS_KEY" in page
    assert "aws-secret-value" not in page
