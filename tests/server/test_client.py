"""The client (sluice/client.py) and the embedded in-process API (sluice/embedded.py)."""

from __future__ import annotations

import socket
import uuid

import pytest

from sluice.client import SluiceClient, get_client
from sluice.errors import ConfigurationError, ObjectAlreadyExists, ObjectNotFound, SluiceError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_one_clear_error_naming_the_url():
    url = f"http://127.0.0.1:{_free_port()}/api"
    with SluiceClient(api_url=url) as client, pytest.raises(SluiceError, match=f"cannot reach the Sluice API at {url}"):
        client.health()


def test_timeout_is_one_clear_error_naming_the_url():
    # A listening socket that never answers: the connection is accepted by the kernel, no reply comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        with SluiceClient(api_url=url, timeout=0.2) as client, pytest.raises(SluiceError, match="did not answer"):
            client.health()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://host:4200", "http://host:4200/api"),
        ("http://host:4200/", "http://host:4200/api"),
        ("http://host:4200/api/", "http://host:4200/api"),
        ("https://example.com/sluice/api", "https://example.com/sluice/api"),
    ],
)
def test_api_url_without_a_path_means_slash_api(given, expected):
    with SluiceClient(api_url=given) as client:
        assert client.api_url == expected


def test_errors_are_typed(client, flow):
    with pytest.raises(ObjectNotFound):
        client.read_flow(uuid.uuid4())
    client.create_work_queue("q")
    with pytest.raises(ObjectAlreadyExists):
        client.create_work_queue("q")
    with pytest.raises(ConfigurationError, match="name"):
        client.request("POST", "/flows/", json={})


def test_bad_arguments_fail_on_the_client_side(client):
    with pytest.raises(ConfigurationError, match="unknown state type"):
        client.set_flow_run_state(uuid.uuid4(), "DANCING")
    with pytest.raises(ConfigurationError, match="flow-name/deployment-name"):
        client.read_deployment_by_name("no-slash")


def test_get_client_without_api_url_uses_the_local_sqlite_database(isolated_sluice_home, sluice_plugin_manager):
    with get_client() as client:
        assert client.is_embedded
        flow = client.create_flow("local")
    assert (isolated_sluice_home / "sluice.db").exists()
    with get_client() as again:
        assert again.read_flow_by_name("local").id == flow.id


def test_embedded_app_is_built_once_per_database(isolated_sluice_home, sluice_plugin_manager):
    from sluice.embedded import embedded_app
    from sluice.settings import get_settings

    assert embedded_app(get_settings()) is embedded_app(get_settings())


def test_client_works_from_many_threads_at_once(client, flow):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda i: client.create_flow_run(flow.id, name=f"run-{i}"), range(40)))
    assert len({run.id for run in runs}) == 40
    assert len(client.filter_flow_runs(flow_ids=[flow.id], limit=100)) == 40


def test_sluice_api_fixture_is_what_get_client_uses(sluice_api):
    flow = sluice_api.client.create_flow("from-fixture")
    with get_client() as client:
        assert client.read_flow_by_name("from-fixture").id == flow.id


def test_routers_by_segment_serve_every_core_api_route(isolated_sluice_home, sluice_plugin_manager):
    from sluice.server.app import ROUTERS_BY_SEGMENT, create_app, create_embedded_app, mount_routers_for
    from sluice.settings import get_settings

    def by_segment(paths: dict) -> dict[str, dict[str, set[str]]]:
        grouped: dict[str, dict[str, set[str]]] = {}
        for path, operations in paths.items():
            if path.startswith("/api/"):
                grouped.setdefault(path.removeprefix("/api/").split("/", 1)[0], {})[path] = set(operations)
        return grouped

    full = by_segment(create_app().openapi()["paths"])
    assert set(full) == set(ROUTERS_BY_SEGMENT)
    for segment in ROUTERS_BY_SEGMENT:
        app = create_embedded_app(get_settings())
        mount_routers_for(app, f"/api/{segment}/anything")
        assert by_segment(app.openapi()["paths"])[segment] == full[segment], segment


def test_embedded_app_mounts_the_routers_of_a_path_on_its_first_request(isolated_sluice_home, sluice_plugin_manager):
    from sluice.embedded import embedded_app
    from sluice.settings import get_settings

    app = embedded_app(get_settings())
    with get_client() as client:
        client.health()
        assert app.state.mounted_routers == {("admin", "router")}
        assert client.create_flow("lazy").name == "lazy"
        assert ("flows", "router") in app.state.mounted_routers
        with pytest.raises(ObjectNotFound):
            client.request("GET", "/no-such-resource")
    from sluice.server.app import CORE_ROUTERS

    assert app.state.mounted_routers == set(CORE_ROUTERS)
