"""The pytest fixtures Sluice gives plugin authors (sluice/testing/pytest_plugin.py)."""

from __future__ import annotations

from typing import Any

from sluice.hookspecs import hookimpl


def hello() -> dict[str, str]:
    return {"hello": "world"}


class HelloPlugin:
    @hookimpl
    def register_routes(self, app: Any) -> None:
        app.get("/hello/")(hello)


def test_sluice_api_http_serves_plugin_routes_on_the_same_database(sluice_api: Any, sluice_plugin_manager: Any) -> None:
    sluice_plugin_manager.register(HelloPlugin(), name="hello", distribution="sluice-hello")
    assert sluice_api.http.get("/hello/").json() == {"hello": "world"}
    flow = sluice_api.client.create_flow("seen-by-both")
    assert sluice_api.http.get(f"/api/flows/{flow.id}").json()["name"] == "seen-by-both"
