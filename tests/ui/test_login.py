"""With ``SLUICE_API_KEY`` set the UI asks for the key once and keeps a signed session cookie."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sluice.hookspecs import hookimpl
from tests.ui.conftest import csrf_token

API_KEY = "correct-horse-battery-staple"


@pytest.fixture
def locked_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A client of an app that needs the API key."""
    from sluice.server.app import create_app

    monkeypatch.setenv("SLUICE_API_KEY", API_KEY)
    with TestClient(create_app(run_services=False)) as client:
        yield client


def test_pages_redirect_to_the_login_without_the_key(locked_client: TestClient) -> None:
    for page in ("/", "/deployments", "/flow-runs?state=RUNNING", "/blocks"):
        response = locked_client.get(page, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    assert locked_client.get("/flow-runs/rows", headers={"X-Sluice-Fragment": "1"}).status_code == 401
    assert locked_client.get("/api/deployments/filter").status_code in (401, 405)


def test_a_wrong_key_is_refused(locked_client: TestClient) -> None:
    token = csrf_token(locked_client.get("/login").text)
    response = locked_client.post("/login", data={"csrf_token": token, "api_key": "nope", "next": "/"})
    assert response.status_code == 401 and "not the server" in response.text
    assert locked_client.get("/", follow_redirects=False).status_code == 303


def test_the_right_key_opens_every_page_through_a_signed_http_only_cookie(locked_client: TestClient) -> None:
    token = csrf_token(locked_client.get("/login?next=/deployments").text)
    response = locked_client.post(
        "/login", data={"csrf_token": token, "api_key": API_KEY, "next": "/deployments"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/deployments"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and API_KEY not in cookie
    assert locked_client.get("/deployments").status_code == 200
    assert locked_client.get("/", follow_redirects=False).status_code == 200  # the pages reach the API with the key


def test_a_forged_cookie_is_not_a_login(locked_client: TestClient) -> None:
    locked_client.cookies.set("sluice_ui_session", "eyJhdXRoIjoieCJ9.forged.signature")
    assert locked_client.get("/", follow_redirects=False).status_code == 303


def test_login_only_redirects_to_local_paths(locked_client: TestClient) -> None:
    token = csrf_token(locked_client.get("/login").text)
    response = locked_client.post(
        "/login", data={"csrf_token": token, "api_key": API_KEY, "next": "//evil.example/"}, follow_redirects=False
    )
    assert response.headers["location"] == "/"


def test_login_needs_the_csrf_token(locked_client: TestClient) -> None:
    locked_client.get("/login")
    response = locked_client.post("/login", data={"api_key": API_KEY})
    assert response.status_code == 403
    assert locked_client.get("/", follow_redirects=False).status_code == 303


# -- the UI login covers other plugins' pages (issue 13, item 7) ------------------------------------


def hello_page() -> dict[str, str]:
    return {"hello": "world"}


class HelloPagePlugin:
    """Another plugin's page, next to the UI."""

    @hookimpl
    def register_routes(self, app: Any) -> None:
        app.get("/hello/")(hello_page)


@pytest.fixture
def locked_client_with_a_plugin_page(
    monkeypatch: pytest.MonkeyPatch, sluice_plugin_manager: Any
) -> Iterator[TestClient]:
    """A client of an app that needs the API key, with the UI and another plugin's page."""
    import sluice_ui
    from sluice.server.app import create_app

    sluice_plugin_manager.register(sluice_ui, name="ui", distribution="sluice-ui")
    sluice_plugin_manager.register(HelloPagePlugin(), name="hello", distribution="sluice-hello")
    monkeypatch.setenv("SLUICE_API_KEY", API_KEY)
    with TestClient(create_app(run_services=False)) as client:
        yield client


def test_a_ui_login_opens_other_plugins_pages(locked_client_with_a_plugin_page: TestClient) -> None:
    client = locked_client_with_a_plugin_page
    token = csrf_token(client.get("/login").text)
    client.post("/login", data={"csrf_token": token, "api_key": API_KEY, "next": "/"}, follow_redirects=False)
    assert client.get("/hello/").json() == {"hello": "world"}
    assert client.get("/api/version").status_code == 401  # the cookie is no API key


def test_a_browser_without_a_session_is_sent_from_a_plugin_page_to_the_login(
    locked_client_with_a_plugin_page: TestClient,
) -> None:
    response = locked_client_with_a_plugin_page.get(
        "/hello/?x=1", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fhello%2F%3Fx%3D1"


def test_a_script_without_the_key_gets_a_401_from_a_plugin_route(locked_client_with_a_plugin_page: TestClient) -> None:
    for headers in ({"Accept": "application/json"}, {"Authorization": "Bearer wrong"}):
        response = locked_client_with_a_plugin_page.get("/hello/", headers=headers, follow_redirects=False)
        assert response.status_code == 401 and "API key" in response.json()["detail"]


def test_the_login_page_and_the_static_files_are_open(locked_client_with_a_plugin_page: TestClient) -> None:
    client = locked_client_with_a_plugin_page
    assert client.get("/login").status_code == 200
    for name in ("style.css", "ui.js", "favicon.svg"):
        assert client.get(f"/ui-static/{name}").status_code == 200, name
