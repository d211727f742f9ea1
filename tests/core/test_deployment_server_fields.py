"""``schedules``, ``max_lateness``, ``concurrency_limit`` and ``catchup`` in deployment.yaml and
``Deployment.apply`` (issue 4): a field the file leaves out keeps its server value, ``null``/``[]``
clears it, ``schedules`` replaces the list, ``schedule`` alone replaces it by that one schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.client import get_client
from sluice.deployments import Deployment
from sluice.errors import ConfigurationError

HOURLY = {"type": "cron", "cron": "0 * * * *"}
DAILY = {"type": "cron", "cron": "0 9 * * *"}
WEEKLY = {"type": "cron", "cron": "0 9 * * 1"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def remote(project: Path) -> Any:
    """The deployment ``say-hi/marvin`` on the embedded API with two schedules (the second paused),
    ``max_lateness``, a concurrency limit and ``catchup``."""
    with get_client() as client:
        created = client.create_deployment("marvin", flow_name="say-hi", work_queue_name="test")
        return client.update_deployment(
            created.id,
            schedules=[{"schedule": HOURLY}, {"schedule": DAILY, "active": False}],
            max_lateness=600,
            concurrency_limit=2,
            catchup=True,
        )


def apply_yaml(project: Path, text: str) -> Any:
    """``sluice deployment apply`` a file holding ``text``; returns the deployment as the API has it."""
    path = project / "deployment.yaml"
    path.write_text("name: marvin\nflow_name: say-hi\n" + text)
    result = CliRunner().invoke(build_app(), ["deployment", "apply", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    with get_client() as client:
        return client.read_deployment_by_name("say-hi/marvin")


def schedules_of(deployment: Any) -> list[tuple[str, bool]]:
    return [(entry.schedule["cron"], entry.active) for entry in deployment.schedules]


def test_a_file_without_the_server_fields_keeps_them(project: Path, remote: Any) -> None:
    after = apply_yaml(project, "tags: [edited]\n")
    assert after.tags == ["edited"]
    assert schedules_of(after) == [("0 * * * *", True), ("0 9 * * *", False)]
    assert [entry.id for entry in after.schedules] == [entry.id for entry in remote.schedules]
    assert (after.max_lateness, after.concurrency_limit, after.catchup) == (600, 2, True)


def test_null_clears_max_lateness_and_concurrency_limit(project: Path, remote: Any) -> None:
    after = apply_yaml(project, "max_lateness: null\nconcurrency_limit: null\n")
    assert after.max_lateness is None and after.concurrency_limit is None
    assert len(after.schedules) == 2


def test_schedules_replaces_the_list_and_an_empty_one_clears_it(project: Path, remote: Any) -> None:
    after = apply_yaml(project, "schedules:\n- schedule: {cron: '0 9 * * 1'}\n  active: false\n")
    assert schedules_of(after) == [("0 9 * * 1", False)]
    assert after.schedule["cron"] == "0 9 * * 1"
    after = apply_yaml(project, "schedules: []\n")
    assert after.schedules == [] and after.schedule is None


def test_schedule_alone_replaces_the_list_by_that_schedule(project: Path, remote: Any) -> None:
    after = apply_yaml(project, "schedule: {type: cron, cron: '0 9 * * 1'}\n")
    assert schedules_of(after) == [("0 9 * * 1", True)]
    assert after.max_lateness == 600


def test_a_schedule_that_contradicts_schedules_is_refused(project: Path, remote: Any) -> None:
    path = project / "deployment.yaml"
    path.write_text(
        "name: marvin\nflow_name: say-hi\nschedule: {cron: '0 0 * * *'}\nschedules:\n- schedule: {cron: '0 9 * * 1'}\n"
    )
    with pytest.raises(ConfigurationError, match="'schedule' and 'schedules' disagree"):
        Deployment.from_yaml(path)


def test_python_apply_of_an_edited_field_keeps_the_server_fields(project: Path, remote: Any) -> None:
    deployment = Deployment(name="marvin", flow_name="say-hi", description="edited")
    deployment.apply()
    with get_client() as client:
        after = client.read_deployment_by_name("say-hi/marvin")
    assert after.description == "edited" and len(after.schedules) == 2 and after.concurrency_limit == 2


def test_a_loaded_deployment_round_trips_through_yaml(project: Path, remote: Any) -> None:
    loaded = Deployment(name="marvin", flow_name="say-hi")
    assert loaded.load() is True
    assert [entry.active for entry in loaded.schedules] == [True, False]
    assert (loaded.max_lateness, loaded.concurrency_limit) == (600, 2)
    loaded.to_yaml(project / "loaded.yaml")
    again = Deployment.from_yaml(project / "loaded.yaml")
    assert again.to_data() == loaded.to_data()
    again.apply()  # re-applying what was loaded changes nothing
    with get_client() as client:
        after = client.read_deployment_by_name("say-hi/marvin")
    assert after.schedules == remote.schedules
    assert (after.max_lateness, after.concurrency_limit, after.catchup) == (600, 2, True)


def test_to_yaml_leaves_unset_server_fields_out_and_writes_explicit_nulls(project: Path) -> None:
    text = Deployment(name="marvin", flow_name="say-hi").to_yaml()
    assert "schedules:" not in text and "max_lateness:" not in text and "concurrency_limit:" not in text
    text = Deployment(name="marvin", flow_name="say-hi", max_lateness=None, schedules=[]).to_yaml()
    assert "max_lateness: null" in text and "schedules: []" in text and "concurrency_limit:" not in text
    again = Deployment.from_yaml(_write(project, text))
    assert again.explicit_fields() >= {"max_lateness", "schedules"}
    assert "concurrency_limit" not in again.explicit_fields()


def test_a_server_upsert_without_the_fields_keeps_them(project: Path, remote: Any) -> None:
    with get_client() as client:
        after = client.create_deployment("marvin", flow_name="say-hi", work_queue_name="other")
    assert after.id == remote.id and after.work_queue_name == "other"
    assert after.schedules == remote.schedules
    assert (after.max_lateness, after.concurrency_limit, after.catchup) == (600, 2, True)


def test_a_server_upsert_with_schedule_only_replaces_the_list(project: Path, remote: Any) -> None:
    with get_client() as client:
        after = client.create_deployment("marvin", flow_name="say-hi", schedule=WEEKLY, max_lateness=None)
    assert schedules_of(after) == [("0 9 * * 1", True)]
    assert after.max_lateness is None and after.concurrency_limit == 2


def _write(project: Path, text: str) -> Path:
    path = project / "written.yaml"
    path.write_text(text)
    return path
