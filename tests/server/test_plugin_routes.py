"""Routes added by plugins (``register_routes``): behind the API key unless marked public, open to an
authenticator a plugin adds, and taken back when the plugin fails (issue 13, items 6 and 7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager
from sluice.routes import add_authenticator, public

KEY = "plugin-routes-key"
WITH_KEY = {"Authorization": f"Bearer {KEY}"}

hello = APIRouter(prefix="/hello")


@hello.get("/")
def say_hello() -> dict[str, str]:
    return {"hello": "world"}


@hello.get("/open")
@public
def say_hello_to_anyone() -> dict[str, str]:
    return {"hello": "anyone"}


welcome = APIRouter(prefix="/welcome")


@welcome.get("/")
def welcome_page() -> dict[str, str]:
    return {"welcome": "everyone"}


def ping() -> dict[str, str]:
    return {"ping": "pong"}


def plain_endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse("plain")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def routes_plugin(files: Path) -> object:
    """A plugin adding every kind of route: routers, a public router, a public function, mounts, a websocket."""

    class RoutesPlugin:
        @hookimpl
        def register_routes(self, app: FastAPI) -> None:
            app.include_router(hello)
            app.include_router(public(welcome))
            app.get("/ping")(public(ping))
            app.mount("/files", public(StaticFiles(directory=files)), name="public-files")
            app.mount("/private-files", StaticFiles(directory=files), name="private-files")
            plain = APIRouter()
            plain.add_route("/plain", plain_endpoint)
            app.include_router(plain)
            app.add_api_websocket_route("/echo", echo)

    return RoutesPlugin()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "style.css").write_text("body {}")
    return folder


@pytest.fixture
def make_client(
    sluice_plugin_manager: PluginManager, isolated_sluice_home: Path
) -> Iterator[Callable[..., TestClient]]:
    """``make_client(*plugins, api_key=KEY)``: a TestClient of ``create_app`` with those plugins."""
    from sluice.server.app import create_app
    from sluice.settings import Settings

    def make(*plugins: object, api_key: str | None = KEY) -> TestClient:
        for number, plugin in enumerate(plugins):
            sluice_plugin_manager.register(plugin, name=f"plugin-{number}", distribution=f"sluice-plugin-{number}")
        settings = Settings(home=isolated_sluice_home, api_key=api_key)
        return TestClient(create_app(settings, run_services=False))

    yield make


def test_plugin_routes_need_the_api_key(make_client: Callable[..., TestClient], files: Path) -> None:
    client = make_client(routes_plugin(files))
    refused = client.get("/hello/")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "missing API key: send 'Authorization: Bearer <SLUICE_API_KEY>'"}
    assert client.get("/hello/", headers=WITH_KEY).json() == {"hello": "world"}


def test_a_wrong_key_on_a_plugin_route_is_refused_as_invalid(
    make_client: Callable[..., TestClient], files: Path
) -> None:
    client = make_client(routes_plugin(files))
    refused = client.get("/hello/", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.json()["detail"].startswith("invalid API key")


def test_routes_marked_public_are_open_without_the_key(make_client: Callable[..., TestClient], files: Path) -> None:
    client = make_client(routes_plugin(files))
    assert client.get("/welcome/").json() == {"welcome": "everyone"}  # a router marked public
    assert client.get("/hello/open").json() == {"hello": "anyone"}  # one endpoint marked public
    assert client.get("/ping").json() == {"ping": "pong"}  # a function marked public
    assert client.get("/files/style.css").text == "body {}"  # a mounted app marked public


def test_routes_not_marked_public_need_the_key(make_client: Callable[..., TestClient], files: Path) -> None:
    client = make_client(routes_plugin(files))
    assert client.get("/private-files/style.css").status_code == 401  # a mount
    assert client.get("/plain").status_code == 401  # a plain Starlette route inside a router
    assert client.post("/welcome/").status_code == 405  # public routes answer wrong methods as usual
    assert client.get("/private-files/style.css", headers=WITH_KEY).text == "body {}"
    assert client.get("/plain", headers=WITH_KEY).text == "plain"


def test_plugin_websocket_routes_need_the_key(make_client: Callable[..., TestClient], files: Path) -> None:
    client = make_client(routes_plugin(files))
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/echo") as websocket:
        websocket.receive_text()
    with client.websocket_connect("/echo", headers=WITH_KEY) as websocket:
        assert websocket.receive_text() == "hello"


def test_the_api_docs_and_health_are_open_and_the_rest_of_the_api_is_not(
    make_client: Callable[..., TestClient], files: Path
) -> None:
    client = make_client(routes_plugin(files))
    for path in ("/docs", "/openapi.json", "/redoc", "/api/health"):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/version").status_code == 401


def test_a_path_no_route_serves_is_a_404_without_the_key(make_client: Callable[..., TestClient], files: Path) -> None:
    client = make_client(routes_plugin(files))
    assert client.get("/nothing-here").status_code == 404


def test_without_an_api_key_plugin_routes_are_open(make_client: Callable[..., TestClient], files: Path) -> None:
    client = make_client(routes_plugin(files), api_key=None)
    assert client.get("/hello/").json() == {"hello": "world"}
    assert client.get("/private-files/style.css").status_code == 200


def logged_in(connection: Any) -> bool:
    return connection.cookies.get("test-login") == "yes"


def to_login(connection: Any) -> Any:
    if "text/html" not in connection.headers.get("accept", ""):
        return None
    return RedirectResponse("/test-login", status_code=303)


class LoginPlugin:
    @hookimpl
    def register_routes(self, app: FastAPI) -> None:
        add_authenticator(app, logged_in, to_login)


def test_an_authenticator_opens_plugin_routes_but_never_the_api(
    make_client: Callable[..., TestClient], files: Path
) -> None:
    client = make_client(routes_plugin(files), LoginPlugin())
    client.cookies.set("test-login", "yes")
    assert client.get("/hello/").json() == {"hello": "world"}
    assert client.get("/private-files/style.css").status_code == 200
    assert client.get("/api/version").status_code == 401


def test_an_authenticators_challenge_answers_a_refused_request(
    make_client: Callable[..., TestClient], files: Path
) -> None:
    client = make_client(routes_plugin(files), LoginPlugin())
    browser = {"Accept": "text/html"}
    for path in ("/hello/", "/private-files/style.css"):  # decided after routing, and before it
        refused = client.get(path, headers=browser, follow_redirects=False)
        assert (refused.status_code, refused.headers["location"]) == (303, "/test-login"), path
    assert client.get("/hello/", headers={"Accept": "application/json"}).status_code == 401


class HalfwayRoutesPlugin:
    """Adds a route, an exception handler and an authenticator, then raises."""

    @hookimpl
    def register_routes(self, app: FastAPI) -> None:
        app.get("/half-added")(ping)
        app.add_exception_handler(KeyError, lambda request, exc: PlainTextResponse("half", 500))
        add_authenticator(app, lambda connection: True)
        raise RuntimeError("routes boom")


def test_a_plugin_raising_in_register_routes_leaves_the_app_whole(
    make_client: Callable[..., TestClient], files: Path, sluice_plugin_manager: PluginManager
) -> None:
    with pytest.warns(UserWarning, match=r"register_routes raised RuntimeError: routes boom"):
        client = make_client(routes_plugin(files), HalfwayRoutesPlugin())
    assert client.get("/half-added", headers=WITH_KEY).status_code == 404
    assert KeyError not in client.app.exception_handlers  # type: ignore[attr-defined]
    assert client.get("/hello/").status_code == 401  # its always-yes authenticator went too
    assert client.get("/hello/", headers=WITH_KEY).json() == {"hello": "world"}
    [broken] = [info for info in sluice_plugin_manager.plugins() if info.errors]
    assert "register_routes raised RuntimeError: routes boom; nothing it added was kept" in broken.errors


def test_app_secret_is_per_purpose_and_the_same_on_every_replica_sharing_the_key(tmp_path: Path) -> None:
    from sluice.routes import app_secret
    from sluice.server.app import create_app
    from sluice.settings import Settings

    def replica(home: str) -> Any:
        settings = Settings(home=tmp_path / home, encryption_key="x" * 44, database_url=f"sqlite:///{tmp_path}/db")
        return create_app(settings, run_services=False)

    first, second = replica("one"), replica("two")
    assert app_secret(first, "acme-sessions") == app_secret(second, "acme-sessions")
    assert app_secret(first, "acme-sessions") != app_secret(first, "acme-tokens")
    assert len(app_secret(first, "acme-sessions")) == 64 and "x" * 8 not in app_secret(first, "acme-sessions")
