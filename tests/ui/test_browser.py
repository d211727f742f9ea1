"""The UI in a real Chromium (Debian's, driven by Playwright) against a real ``sluice server start``
and a real ``sluice agent start``: filter, open, custom-run to Completed with its log line, edit,
an inline error that creates nothing, pause, and the API-key login. Every page is screenshotted into
``docs/img/`` for ``docs/ui.md``, and no page may make a request outside the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_service
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, running, sluice_cli, sluice_env, sluice_server

pytestmark = [pytest.mark.service, pytest.mark.slow]

FLOW = '''from sluice import flow, get_run_logger


@flow
def greet(name: str = "Marvin", times: int = 1):
    """Greet someone, a few times."""
    for _ in range(times):
        get_run_logger().info(f"Hello {name}!")
'''
QUEUE = "ui-test"
API_KEY = "ui-browser-test-key"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    """Chromium from /usr/bin/chromium, headless; skipped (laptop) or failed (CI) without it."""
    if not CHROMIUM.exists():
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a flow file, and the home of the server it is deployed to."""
    folder = tmp_path_factory.mktemp("ui-project")
    (folder / "flows").mkdir()
    (folder / "flows" / "greet.py").write_text(FLOW)
    return folder


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with two deployments: ``greet/hello`` (tag demo, daily cron) and ``etl/nightly``."""
    home = tmp_path_factory.mktemp("ui-server-home")
    with sluice_server(home) as url:
        env = sluice_env(home, SLUICE_API_URL=url)
        build = ["deployment", "build", "flows/greet.py:greet", "-n", "hello", "-q", QUEUE, "-t", "demo"]
        sluice_cli(project, env, *build, "--cron", "0 9 * * *", "--apply")
        other = {"name": "nightly", "flow_name": "etl", "tags": ["batch"], "work_queue_name": "etl"}
        httpx.post(f"{url}/api/deployments/", json=other, timeout=30).raise_for_status()
        yield url


@pytest.fixture(scope="module")
def agent(server: str, project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``sluice agent start -q ui-test`` polling the server."""
    home = tmp_path_factory.mktemp("ui-agent-home")
    log = home / "agent.log"
    with running(["agent", "start", "-q", QUEUE], sluice_env(home, SLUICE_API_URL=server), log, cwd=project) as proc:
        assert proc.poll() is None, log.read_text()
        yield


@pytest.fixture
def page(playwright_browser: Any, server: str) -> Iterator[Any]:
    """A desktop-sized page; after the test, every request it made must have gone to the server."""
    context = playwright_browser.new_context(viewport=DESKTOP)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
    outside = [url for url in requests if not url.startswith(server + "/")]
    assert requests and outside == [], f"requests outside {server}: {outside}"


def api(server: str, method: str, path: str, **kwargs: Any) -> Any:
    """Call the server's REST API directly (to check what the UI did)."""
    response = httpx.request(method, f"{server}/api{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def hello_deployment(server: str) -> dict[str, Any]:
    return api(server, "GET", "/deployments/name/greet/hello")


def manual_run_ids(server: str, deployment_id: str) -> set[str]:
    """Ids of the deployment's runs not created by the scheduler (which may add some at any moment)."""
    runs = api(server, "POST", "/flow_runs/filter", json={"deployment_ids": [deployment_id]})
    return {run["id"] for run in runs if not run["auto_scheduled"]}


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot as ``docs/img/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_filter_open_and_custom_run_reaches_completed_with_its_log(page: Any, server: str, agent: None) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/deployments")
    expect(page.locator("tr[data-deployment='etl/nightly']")).to_be_visible()
    shot(page, "ui-deployments")
    page.select_option("#filter-tag", "demo")  # submits the filter form by itself
    expect(page).to_have_url(re.compile(r"tag=demo"))
    expect(page.locator("tr[data-deployment='etl/nightly']")).to_have_count(0)
    page.get_by_role("link", name="greet/hello").click()
    expect(page.locator("h1")).to_contain_text("hello")
    shot(page, "ui-deployment")

    page.locator("summary", has_text="Run ▸").click()
    page.get_by_role("link", name="Custom run").click()
    page.fill("#param\\.name", "Playwright")
    page.fill("#param\\.times", "2")
    shot(page, "ui-custom-run")
    page.get_by_role("button", name="Create run").click()
    expect(page.locator(".flash")).to_contain_text("Created run")
    run_id = page.url.rsplit("/", 1)[1]
    live = page.locator("#run-live")
    expect(live.locator("h2 .badge")).to_have_text("Completed", timeout=120_000)
    expect(live.locator("#logs")).to_contain_text("Hello Playwright!")
    expect(page.locator("#parameters")).to_contain_text('"times": 2')
    run = api(server, "GET", f"/flow_runs/{run_id}")
    assert run["state_type"] == "COMPLETED" and run["parameters"] == {"name": "Playwright", "times": 2}
    expect(page.locator("#infrastructure-pid")).not_to_have_text("—")
    shot(page, "ui-flow-run")

    page.goto(f"{server}/flow-runs")
    expect(page.locator("#run-rows")).to_contain_text("Completed")
    shot(page, "ui-flow-runs")


def test_edit_default_parameters_is_persisted_through_the_api(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    deployment = hello_deployment(server)
    page.goto(f"{server}/deployments/{deployment['id']}/edit")
    page.fill("#param\\.name", "Edited")
    page.fill("#param\\.times", "3")
    page.fill("#schedule_cron", "30 6 * * 1-5")
    expect(page.locator("#preview-dates li")).to_have_count(5)
    expect(page.locator("#schedule-preview")).to_contain_text("06:30")
    shot(page, "ui-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Deployment saved.")
    expect(page.locator("#default-parameters")).to_contain_text('"Edited"')
    stored = hello_deployment(server)
    assert stored["parameters"] == {"name": "Edited", "times": 3}
    assert stored["schedule"]["cron"] == "30 6 * * 1-5"


def test_an_invalid_integer_is_shown_inline_and_creates_nothing(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    deployment = hello_deployment(server)
    before = manual_run_ids(server, deployment["id"])
    page.goto(f"{server}/deployments/{deployment['id']}/run")
    page.fill("#param\\.times", "three")
    page.get_by_role("button", name="Create run").click()
    error = page.locator("#error-param\\.times")
    expect(error).to_contain_text("must be a whole number")
    expect(page.locator("#param\\.times")).to_have_value("three")
    shot(page, "ui-custom-run-error")
    assert manual_run_ids(server, deployment["id"]) == before


def test_pause_the_schedule(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    deployment = hello_deployment(server)
    page.goto(f"{server}/deployments/{deployment['id']}")
    page.get_by_role("button", name="Pause schedule").click()
    expect(page.locator("#schedule-state")).to_have_text("paused")
    expect(page.get_by_role("button", name="Resume schedule")).to_be_visible()
    assert hello_deployment(server)["is_schedule_active"] is False


def test_screenshots_of_every_page_at_desktop_and_phone_width(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    queue = api(server, "GET", f"/work_queues/name/{QUEUE}")
    for path, name in (
        ("/", "ui-dashboard"),
        ("/work-queues", "ui-work-queues"),
        (f"/work-queues/{queue['id']}", "ui-work-queue"),
        ("/blocks", "ui-blocks"),
        ("/blocks/new?type=process", "ui-block-form"),
    ):
        page.goto(server + path)
        expect(page.locator("main h1")).to_be_visible()
        shot(page, name)
    page.set_viewport_size(PHONE)
    for path, name in (("/", "ui-dashboard-phone"), ("/deployments", "ui-deployments-phone")):
        page.goto(server + path)
        expect(page.locator("main h1")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways on a phone ({width}px)"
        shot(page, name)


def test_with_an_api_key_the_ui_refuses_access_without_it(
    playwright_browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from playwright.sync_api import expect

    home = tmp_path_factory.mktemp("ui-locked-home")
    with sluice_server(home, SLUICE_API_KEY=API_KEY) as url:
        context = playwright_browser.new_context(viewport=DESKTOP)
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.goto(f"{url}/deployments")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.locator("main h1")).to_have_text("Log in")
        assert page.context.request.get(f"{url}/api/deployments/name/a/b").status == 401
        page.fill("#api_key", "wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".error")).to_contain_text("not the server's API key")
        shot(page, "ui-login")
        page.fill("#api_key", API_KEY)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{url}/deployments")
        expect(page.locator("main h1")).to_contain_text("Deployments")
        context.close()
        assert all(request.startswith(url + "/") for request in requests), requests
