"""deployment.yaml files written by Prefect 2.20's own ``prefect deployment build`` apply unchanged.

The files under fixtures/prefect220/ are Prefect's output (see the README there), not hand-written.
Each is applied with ``sluice deployment apply`` after only its ``path`` is pointed at this test's
folder (the folder Prefect built in is gone); the blocks they name are saved first under the same
names, as a user moving to Sluice would do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.client import get_client

FIXTURES = Path(__file__).parent / "fixtures" / "prefect220"
FILES = sorted(path.stem for path in FIXTURES.glob("*.yaml"))

MARVIN = '''from sluice import flow, get_run_logger


@flow
def say_hi(name: str = "Marvin", times: int = 1):
    """Say hi."""
    get_run_logger().info(f"Hello {name} x{times}!")
    return name


@flow(name="no-params")
def no_params():
    return 42
'''

MODELS = '''from datetime import datetime
from typing import List, Optional

from pydantic import BaseModel

from sluice import flow


class Target(BaseModel):
    table: str
    partitions: int = 1


@flow(name="load-table", version="2024.1")
def load_table(target: Target, since: Optional[datetime] = None, columns: List[str] = ["id"], dry_run: bool = False):
    """Load one table."""
    return target.table
'''

# Prefect wrote the folder it built in (a temporary one) as the local path.
_LOCAL_PATH = re.compile(r"^path: /tmp/\S+$", re.MULTILINE)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The flows of the Prefect project with ``import sluice``, and its saved blocks, made current."""
    from sluice.plugins import get_registry

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(MARVIN)
    (tmp_path / "flows" / "models.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    storage, infrastructure = get_registry("storage"), get_registry("infrastructure")
    storage.get("local-file-system")(basepath=str(tmp_path / "storage")).save("dev")
    storage.get("remote-file-system")(
        basepath="s3://flows/team", settings={"key": "AKIAEXAMPLE", "secret": "example-secret"}
    ).save("minio")
    storage.get("s3")(
        bucket_path="flows/team", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="example-secret"
    ).save("s3b")
    infrastructure.get("process")(env={"GREETING": "hi"}, working_dir="/tmp").save("local-process")
    infrastructure.get("docker-container")(image="python:3.11-slim", env={"A": "1"}).save("docker-dev")
    infrastructure.get("kubernetes-job")(namespace="flows", image="python:3.11-slim").save("k8s-dev")
    return tmp_path


def sluice(*args: str) -> Any:
    """Run the CLI in-process; returns the click Result (stdout and stderr kept apart)."""
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


def prefect_file(project: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """The fixture ``name`` copied into the project with its local path adjusted; and its data."""
    text = _LOCAL_PATH.sub(f"path: {project}", (FIXTURES / f"{name}.yaml").read_text())
    file = project / f"{name}.yaml"
    file.write_text(text)
    return file, yaml.safe_load(text)


def applied(project: Path, name: str) -> tuple[Any, dict[str, Any]]:
    """Apply the fixture ``name`` with the CLI; the deployment as the API has it, and the file's data."""
    file, data = prefect_file(project, name)
    result = sluice("deployment", "apply", str(file))
    assert result.exit_code == 0, result.stderr
    with get_client() as client:
        return client.read_deployment_by_name(f"{data['flow_name']}/{data['name']}"), data


@pytest.mark.parametrize("name", FILES)
def test_a_file_prefect_2_20_wrote_applies_unchanged_but_for_its_path(project: Path, name: str) -> None:
    remote, data = applied(project, name)
    assert remote.work_queue_name == data["work_queue_name"]
    assert remote.tags == data["tags"]
    assert remote.parameters == data["parameters"]
    assert remote.entrypoint == data["entrypoint"]
    assert remote.description == data["description"]
    assert remote.version == str(data["version"])
    assert remote.is_schedule_active is True  # Prefect's null: the default
    assert remote.infra_overrides == data["infra_overrides"]


def test_every_schedule_shape_prefect_writes_becomes_the_same_schedule(project: Path) -> None:
    expected = {
        "cron": {"type": "cron", "cron": "0 9 * * 1-5", "timezone": "America/New_York", "day_or": True},
        "cron-special": {"type": "cron", "cron": "30 2 ? * 5#2", "timezone": "Europe/London", "day_or": True},
        "cron-last-day": {"type": "cron", "cron": "0 18 L * *", "timezone": "UTC", "day_or": True},
        "interval": {
            "type": "interval",
            "interval": 3600.0,
            "anchor_date": "2026-01-01T00:00:00Z",
            "timezone": "Europe/London",
        },
        "rrule": {"type": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9;BYMINUTE=0"},
        "rrule-dtstart": {
            "type": "rrule",
            "rrule": "DTSTART:20260105T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1",
            "timezone": "America/Chicago",
        },
    }
    for name, schedule in expected.items():
        remote, _ = applied(project, name)
        assert len(remote.schedules) == 1, name
        got = remote.schedules[0].schedule
        assert {key: got.get(key) for key in schedule} == schedule, name
        assert remote.schedules[0].active is True
        assert remote.schedule == got  # the first entry is mirrored in `schedule`


def test_files_without_a_schedule_create_runs_only_on_demand(project: Path) -> None:
    for name in ("basic", "no-schedule", "no-params"):
        remote, _ = applied(project, name)
        assert remote.schedule is None and remote.schedules == [], name


def test_a_null_is_schedule_active_keeps_a_paused_schedule_paused(project: Path) -> None:
    remote, _ = applied(project, "cron")
    assert sluice("deployment", "pause-schedule", "say-hi/weekdays").exit_code == 0
    again, _ = applied(project, "cron")
    assert again.id == remote.id
    assert again.is_schedule_active is False


def test_list_of_overrides_written_as_strings_reach_the_deployment(project: Path) -> None:
    remote, _ = applied(project, "overrides")
    assert remote.infra_overrides == {
        "env.LOG_LEVEL": "DEBUG",
        "env.SOME_IMPORTANT_CONFIG": "true",
        "stream_output": "false",
    }


def test_a_saved_infrastructure_block_is_referenced_by_its_name(project: Path) -> None:
    for name, slug, document in (
        ("process-block", "process", "local-process"),
        ("docker-block", "docker-container", "docker-dev"),
        ("kubernetes-block", "kubernetes-job", "k8s-dev"),
    ):
        remote, _ = applied(project, name)
        with get_client() as client:
            saved = client.read_block_document_by_name(slug, document)
        assert remote.infrastructure_document_id == saved.id, name


def test_a_saved_storage_block_is_referenced_and_its_masked_secrets_are_not_kept(project: Path) -> None:
    for name, slug, document in (
        ("s3-storage", "s3", "s3b"),
        ("remote-fs-storage", "remote-file-system", "minio"),
        ("local-storage", "local-file-system", "dev"),
    ):
        remote, data = applied(project, name)
        with get_client() as client:
            saved = client.read_block_document_by_name(slug, document)
            secret = client.read_block_document(saved.id, include_secrets=True)
        assert remote.storage_document_id == saved.id, name
        assert (remote.path or "") == data["path"], name  # Prefect writes '' for the block's root
        assert "*****" not in str(secret.data), name


def test_an_inline_prefect_infrastructure_keeps_its_settings(project: Path) -> None:
    docker, _ = applied(project, "docker")
    assert docker.infrastructure["type"] == "docker-container"
    assert docker.infra_overrides == {"image": "python:3.12-slim"}
    kubernetes, _ = applied(project, "kubernetes")
    assert kubernetes.infrastructure["type"] == "kubernetes-job"
    assert kubernetes.infra_overrides == {"namespace": "flows"}


def test_a_flow_with_a_pydantic_parameter_keeps_its_schema_and_defaults(project: Path) -> None:
    remote, data = applied(project, "models")
    assert remote.parameters == {"target": {"table": "users"}}
    assert remote.version == "2024.1"
    assert (
        remote.parameter_openapi_schema["properties"]["target"]
        == data["parameter_openapi_schema"]["properties"]["target"]
    )
