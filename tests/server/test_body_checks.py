"""Request bodies (server/body_checks.py): what JSON may hold, and how large a body may be.

Every test runs on SQLite and on PostgreSQL. SQLite stored lone surrogates and NaN that later made
every read of the row fail; PostgreSQL refused some of them with a 422 and others with a 500.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

JSON_HEADERS = {"content-type": "application/json"}


def _post_raw(api: httpx.Client, path: str, text: str | bytes, content_type: str = "application/json") -> Any:
    content = text.encode() if isinstance(text, str) else text
    return api.post(path, content=content, headers={"content-type": content_type})


def _run_count(api: httpx.Client) -> int:
    response = api.post("/api/flow_runs/filter", json={})
    assert response.status_code == 200, response.text
    return len(response.json())


@pytest.fixture
def flow_id(api: httpx.Client) -> str:
    """The id of a flow called ``etl``."""
    return api.post("/api/flows/", json={"name": "etl"}).json()["id"]


def test_a_lone_surrogate_in_a_run_parameter_is_refused_and_nothing_is_stored(api, flow_id):
    response = _post_raw(api, "/api/flow_runs/", f'{{"flow_id": "{flow_id}", "parameters": {{"name": "\\ud800"}}}}')

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "a string at parameters.name holds a lone UTF-16 surrogate; send valid Unicode text"
    )
    assert _run_count(api) == 0


def test_a_lone_surrogate_in_an_object_key_is_refused(api, flow_id):
    response = _post_raw(api, "/api/flow_runs/", f'{{"flow_id": "{flow_id}", "parameters": {{"\\udc80": 1}}}}')

    assert response.status_code == 422
    assert "surrogate" in response.json()["detail"]
    assert _run_count(api) == 0


def test_a_surrogate_pair_is_one_character_and_is_stored(api, flow_id):
    response = _post_raw(
        api, "/api/flow_runs/", f'{{"flow_id": "{flow_id}", "parameters": {{"emoji": "\\ud83d\\ude00"}}}}'
    )

    assert response.status_code == 201, response.text
    run = api.get(f"/api/flow_runs/{response.json()['id']}").json()
    assert run["parameters"] == {"emoji": "\N{GRINNING FACE}"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_parameters_are_refused_and_nothing_is_stored(api, flow_id, number):
    response = _post_raw(api, "/api/flow_runs/", f'{{"flow_id": "{flow_id}", "parameters": {{"x": {number}}}}}')

    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"the JSON body holds {number}: JSON has no NaN or Infinity; send a finite number or null"
    )
    assert _run_count(api) == 0


def test_a_number_too_large_to_be_finite_is_refused(api, flow_id):
    response = _post_raw(api, "/api/flow_runs/", f'{{"flow_id": "{flow_id}", "parameters": {{"x": 1e999}}}}')

    assert response.status_code == 422
    assert response.json()["detail"] == "the number at parameters.x is too large: send a finite number"
    assert _run_count(api) == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/flow_runs/filter", '{"limit": NaN}'),
        ("/api/deployments/filter", '{"offset": Infinity}'),
        ("/api/work_queues/claim", '{"agent_id": "6c1a4a4e-3c4d-4d0a-9b1e-0d4d2c5f7a11", "prefetch_seconds": NaN}'),
        ("/api/work_queues/claim", '{"agent_id": "6c1a4a4e-3c4d-4d0a-9b1e-0d4d2c5f7a11", "wait_seconds": -Infinity}'),
    ],
)
def test_nan_and_infinity_in_number_fields_are_a_422_not_a_500(api, path, body):
    response = _post_raw(api, path, body)

    assert response.status_code == 422
    assert "JSON has no NaN or Infinity" in response.json()["detail"]


def test_json_nested_deeper_than_64_levels_is_refused(api, flow_id):
    deep = "[" * 63 + "]" * 63  # with the body and "parameters" around it: 65 levels
    response = _post_raw(api, "/api/flow_runs/", f'{{"flow_id": "{flow_id}", "parameters": {{"x": {deep}}}}}')

    assert response.status_code == 422
    assert response.json()["detail"].startswith("the JSON body nests deeper than 64 levels (at parameters.x[0]")
    assert _run_count(api) == 0


def test_json_nested_64_levels_deep_is_accepted(api, flow_id):
    deep = "[" * 62 + "]" * 62
    response = _post_raw(api, "/api/flow_runs/", f'{{"flow_id": "{flow_id}", "parameters": {{"x": {deep}}}}}')

    assert response.status_code == 201, response.text


def test_json_nested_a_hundred_thousand_levels_deep_is_a_422(api):
    response = _post_raw(api, "/api/flow_runs/filter", "[" * 100_000 + "]" * 100_000)

    assert response.status_code == 422
    assert "nests deeper than 64 levels" in response.json()["detail"]


def test_a_json_body_that_is_not_utf8_is_refused(api, flow_id):
    body = b'{"flow_id": "' + flow_id.encode() + b'", "parameters": {"name": "\xed\xa0\x80"}}'  # an encoded surrogate

    response = _post_raw(api, "/api/flow_runs/", body)

    assert response.status_code == 422
    assert response.json()["detail"].startswith("the JSON body is not valid UTF-8 (byte ")
    assert _run_count(api) == 0


def test_text_that_is_not_json_is_a_422_naming_where(api):
    response = _post_raw(api, "/api/flow_runs/filter", '{"limit": }')

    assert response.status_code == 422
    assert response.json()["detail"] == "the body is not valid JSON: Expecting value (line 1, column 11)"


@pytest.mark.parametrize("body", [b"\xed\xa0\x80", b"\xff\xfe{", b"{\x00}"])
def test_a_validation_error_echoing_bytes_that_are_not_text_is_a_422(api, body):
    # Not sent as JSON: FastAPI validates the raw bytes and its error answer echoes them.
    response = _post_raw(api, "/api/flow_runs/filter", body, content_type="text/plain")

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "model_attributes_type"


def test_a_validation_error_echoes_at_most_a_thousand_characters_of_the_input(api):
    response = _post_raw(api, "/api/flow_runs/filter", "x" * 100_000, content_type="text/plain")

    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == "x" * 1000 + "…"


def test_a_path_parameter_that_is_not_utf8_is_a_404_not_a_500(api):
    response = api.get("/api/deployments/name/%ED%A0%80/%FF")

    assert response.status_code == 404
    assert response.json()["detail"] == "deployment \ufffd\ufffd\ufffd/\ufffd not found"


def test_a_query_parameter_that_is_not_utf8_is_a_422_not_a_500(api):
    response = api.get("/api/block_documents/00000000-0000-0000-0000-000000000000?include_secrets=%ED%A0%80")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "include_secrets"]


# -- the body limit ----------------------------------------------------------------------------------------


@pytest.fixture
def small_limit_app(settings: Any, sluice_plugin_manager: Any) -> Any:
    """An app that reads bodies of at most 4 KiB."""
    from sluice.server.app import create_app

    return create_app(settings.model_copy(update={"server_max_body_bytes": 4096}), run_services=False)


@pytest.fixture
def small_limit_api(small_limit_app: Any) -> Any:
    """Raw HTTP to ``small_limit_app``."""
    from sluice.embedded import EmbeddedTransport

    with httpx.Client(transport=EmbeddedTransport(small_limit_app, timeout=60), base_url="http://test") as client:
        yield client


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(small_limit_api):
    flow_id = small_limit_api.post("/api/flows/", json={"name": "etl"}).json()["id"]

    response = small_limit_api.post("/api/flow_runs/", json={"flow_id": flow_id, "parameters": {"x": "a" * 5000}})

    assert response.status_code == 413
    assert response.json()["detail"] == (
        "the request body is larger than 4096 bytes, the server's limit (SLUICE_SERVER_MAX_BODY_BYTES); "
        "send less per request"
    )
    assert _run_count(small_limit_api) == 0


def test_a_body_at_the_limit_is_read(small_limit_api):
    flow_id = small_limit_api.post("/api/flows/", json={"name": "etl"}).json()["id"]
    body = {"flow_id": flow_id, "parameters": {"x": ""}}
    padding = 4096 - len(httpx.Request("POST", "/", json=body).content)

    response = small_limit_api.post("/api/flow_runs/", json={"flow_id": flow_id, "parameters": {"x": "a" * padding}})

    assert response.status_code == 201, response.text


def _call(app: Any, headers: list[tuple[bytes, bytes]], receive: Any) -> tuple[int, bytes]:
    """One HTTP request straight through the ASGI app; its status and body."""
    answer: dict[str, Any] = {"body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/flow_runs/filter",
        "raw_path": b"/api/flow_runs/filter",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    asyncio.run(app(scope, receive, send))
    return answer["status"], answer["body"]


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(small_limit_app):
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body of a request announced as too large was read")

    headers = [(b"content-type", b"application/json"), (b"content-length", b"300000000")]
    status, body = _call(small_limit_app, headers, receive)

    assert status == 413
    assert b"larger than 4096 bytes" in body


def test_a_chunked_body_is_read_only_up_to_the_limit(small_limit_app):
    chunks_read = 0

    async def receive() -> dict[str, Any]:  # an endless upload, 1 KiB at a time
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b" " * 1024, "more_body": True}

    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    status, _ = _call(small_limit_app, headers, receive)

    assert status == 413
    assert chunks_read == 5  # the fifth KiB passed the 4 KiB limit: nothing more was asked for
