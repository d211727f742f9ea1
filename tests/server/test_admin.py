"""``/api/health``, ``/api/version`` (server/api/admin.py) and the API key (server/auth.py)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from sluice import __version__
from sluice.errors import SluiceError


def test_health_and_version(client):
    assert client.health().status == "ok"
    assert client.version().version == __version__


def test_openapi_and_docs_are_served(api):
    schema = api.get("/openapi.json").json()
    assert "/api/deployments/{deployment_id}/create_flow_run" in schema["paths"]
    assert api.get("/docs").status_code == 200


@pytest.fixture
def locked_app(settings, sluice_plugin_manager):
    from sluice.server.app import create_app

    return create_app(settings.model_copy(update={"api_key": SecretStr("s3cret")}), run_services=False)


def _http(app, headers=None):
    from sluice.embedded import EmbeddedTransport

    return httpx.Client(transport=EmbeddedTransport(app), base_url="http://test", headers=headers or {})


def test_api_key_is_required_on_every_api_route_but_health(locked_app):
    with _http(locked_app) as anonymous:
        response = anonymous.get("/api/version")
        assert response.status_code == 401
        assert "API key" in response.json()["detail"]
        assert anonymous.post("/api/flows/filter", json={}).status_code == 401
        assert anonymous.get("/api/health").status_code == 200
    with _http(locked_app, {"Authorization": "Bearer wrong"}) as wrong:
        assert wrong.get("/api/version").status_code == 401
    with _http(locked_app, {"Authorization": "Bearer s3cret"}) as right:
        assert right.get("/api/version").status_code == 200
        assert right.post("/api/flows/", json={"name": "f"}).status_code == 201


def test_client_sends_the_api_key(locked_app, settings):
    from sluice.client import SluiceClient
    from sluice.embedded import EmbeddedTransport

    with SluiceClient(api_key="s3cret", settings=settings, transport=EmbeddedTransport(locked_app)) as client:
        assert client.create_flow("f").name == "f"
    wrong = SluiceClient(api_key="nope", settings=settings, transport=EmbeddedTransport(locked_app))
    with wrong, pytest.raises(SluiceError, match="refused the API key"):
        wrong.create_flow("f")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(locked_app, scheme):
    with _http(locked_app, {"Authorization": f"{scheme} s3cret"}) as client:
        assert client.get("/api/version").status_code == 200


@pytest.mark.parametrize(
    "header", ["Bearer s3cret2", "Bearer S3CRET", "Basic s3cret", "s3cret", "Bearer", "Bearers3cret"]
)
def test_only_the_bearer_scheme_with_the_exact_key_is_let_in(locked_app, header):
    with _http(locked_app, {"Authorization": header}) as client:
        response = client.get("/api/version")
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid API key: send 'Authorization: Bearer <SLUICE_API_KEY>'"


def test_a_request_without_the_key_is_refused_before_its_body_is_read(locked_app):
    with _http(locked_app) as anonymous:
        response = anonymous.post("/api/flows/filter", content=b"x" * 6_000_000)  # past the body limit
    assert response.status_code == 401
