"""Fixtures of the UI tests: an app over a fresh database, a deployment with a parameter schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

#: The parameter schema of the sample deployment: every kind of input the forms generate.
PARAMETER_SCHEMA: dict[str, Any] = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "name": {"title": "name", "type": "string", "default": "Marvin", "position": 0},
        "count": {"title": "count", "type": "integer", "position": 1},
        "ratio": {"title": "ratio", "type": "number", "default": 0.5, "position": 2},
        "loud": {"title": "loud", "type": "boolean", "default": False, "position": 3},
        "color": {"title": "color", "allOf": [{"$ref": "#/definitions/Color"}], "default": "red", "position": 4},
        "items": {"title": "items", "type": "array", "items": {"type": "string"}, "position": 5},
        "options": {"title": "options", "type": "object", "position": 6},
    },
    "required": ["count"],
    "definitions": {"Color": {"title": "Color", "enum": ["red", "green"], "type": "string"}},
}

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A TestClient over ``create_app()`` (no background services), the UI mounted by its plugin."""
    from sluice.server.app import create_app

    with TestClient(create_app(run_services=False)) as test_client:
        yield test_client


@pytest.fixture
def deployment(client: TestClient) -> dict[str, Any]:
    """A deployment with a schedule, tags, defaults and the full parameter schema."""
    body = {
        "name": "nightly",
        "flow_name": "say-hi",
        "description": "Says hi every night.",
        "tags": ["team-a", "prod"],
        "parameters": {"count": 2},
        "parameter_openapi_schema": PARAMETER_SCHEMA,
        "work_queue_name": "test",
        "schedule": {"type": "cron", "cron": "0 9 * * *", "timezone": "UTC"},
        "entrypoint": "flows/hi.py:say_hi",
    }
    response = client.post("/api/deployments/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def post_form(client: TestClient, page: str, action: str, data: dict[str, Any]) -> Any:
    """Open ``page``, then post ``data`` with its CSRF token to ``action`` (redirects not followed)."""
    token = csrf_token(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)
