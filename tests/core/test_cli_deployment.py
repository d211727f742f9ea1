"""``sluice deployment`` commands, in-process on the embedded API: the happy paths and every bad input.

Each bad-input test checks the one-line message, the exit code, and that nothing was written or changed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.client import get_client

MARVIN = '''from sluice import flow, get_run_logger


@flow
def say_hi(name: str = "Marvin", times: int = 1):
    """Say hi to someone.

    Args:
        name: Who to greet.
        times: How often.
    """
    for _ in range(times):
        get_run_logger().info(f"Hello {name}!")
    return name
'''


GATHER = """from sluice import flow, get_run_logger


@flow
def gather(prefix: str, *items: int, **options: str):
    get_run_logger().info(f"{prefix} items={list(items)} options={options}")
"""

#: Why the tests of extra parameter names on `run` and `execute` still fail.


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with flows/marvin.py, made the current folder."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(MARVIN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sluice(*args: str) -> Any:
    """Run the CLI in-process; returns the click Result (stdout and stderr kept apart)."""
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


def deployments() -> list[dict[str, Any]]:
    result = sluice("deployment", "ls", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def built(project: Path, *extra: str) -> Path:
    result = sluice("deployment", "build", "flows/marvin.py:say_hi", "-n", "marvin", "-q", "test", *extra)
    assert result.exit_code == 0, result.stderr
    return project / "say_hi-deployment.yaml"


def applied(project: Path, *extra: str) -> str:
    result = sluice("deployment", "build", "flows/marvin.py:say_hi", "-n", "marvin", "-q", "test", "--apply", *extra)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split("'")[-2]


def assert_error(result: Any, message: str) -> None:
    assert result.exit_code != 0
    assert result.stderr.startswith("Error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr


def assert_nothing_written(project: Path) -> None:
    assert sorted(path.name for path in project.iterdir()) == ["flows"]
    assert deployments() == []


# -- build, apply, ls, inspect ---------------------------------------------------------------------


def test_build_writes_the_yaml_with_the_flows_fields(project: Path) -> None:
    path = built(project, "-t", "demo", "--param", "name=Arthur", "--interval", "3600")
    data = yaml.safe_load(path.read_text())
    assert data["name"] == "marvin"
    assert data["flow_name"] == "say-hi"
    assert data["work_queue_name"] == "test"
    assert data["entrypoint"] == "flows/marvin.py:say_hi"
    assert data["path"] == str(project.resolve())
    assert data["storage"] is None
    assert data["tags"] == ["demo"]
    assert data["parameters"] == {"name": "Arthur"}
    assert data["schedule"]["type"] == "interval"
    assert data["infrastructure"]["type"] == "process"
    assert data["description"] == "Say hi to someone."
    import hashlib

    assert data["version"] == hashlib.md5((project / "flows" / "marvin.py").read_bytes()).hexdigest()
    name = data["parameter_openapi_schema"]["properties"]["name"]
    assert name["description"] == "Who to greet." and name["default"] == "Marvin"
    assert deployments() == []  # build alone does not touch the API


def test_build_without_a_work_queue_warns(project: Path) -> None:
    result = sluice("deployment", "build", "flows/marvin.py:say_hi", "-n", "marvin", "-o", "custom.yaml")
    assert result.exit_code == 0
    assert "no work queue set" in result.stderr
    assert (project / "custom.yaml").is_file()


def test_apply_prints_the_id_and_ls_and_inspect_show_it(project: Path) -> None:
    path = built(project, "-t", "demo", "--cron", "0 9 * * *")
    result = sluice("deployment", "apply", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Deployment 'say-hi/marvin' successfully created with id '")
    (listed,) = deployments()
    assert listed["name"] == "marvin" and listed["flow_name"] == "say-hi"
    table = sluice("deployment", "ls").stdout
    assert "Deployments" in table and "say-hi/marvin" in table and "at 09:00 every day" in table
    inspected = json.loads(sluice("deployment", "inspect", "say-hi/marvin", "--json").stdout)
    assert inspected["id"] == listed["id"]
    assert inspected["infrastructure"]["type"] == "process"
    assert inspected["tags"] == ["demo"]
    assert "'work_queue_name': 'test'" in sluice("deployment", "inspect", "say-hi/marvin").stdout


def test_applying_again_keeps_the_id_and_a_field_left_out_keeps_its_value(project: Path) -> None:
    path = built(project, "-t", "demo")
    first = sluice("deployment", "apply", str(path)).stdout
    path.write_text("name: marvin\nflow_name: say-hi\ndescription: edited\n")
    second = sluice("deployment", "create", str(path)).stdout
    assert first.split("'")[-2] == second.split("'")[-2]
    (listed,) = deployments()
    assert listed["description"] == "edited"
    assert listed["tags"] == ["demo"]
    assert listed["work_queue_name"] == "test"


def test_a_field_set_to_null_or_empty_is_cleared(project: Path) -> None:
    path = built(project, "-t", "demo", "--cron", "0 9 * * *")
    sluice("deployment", "apply", str(path))
    path.write_text("name: marvin\nflow_name: say-hi\ntags: []\nschedule: null\n")
    sluice("deployment", "apply", str(path))
    (listed,) = deployments()
    assert listed["tags"] == [] and listed["schedule"] is None


def test_python_load_then_apply_changes_only_what_was_edited(project: Path) -> None:
    from sluice.deployments import Deployment

    applied(project, "-t", "demo")
    deployment = Deployment(name="marvin", flow_name="say-hi")
    assert deployment.load() is True
    assert deployment.work_queue_name == "test" and deployment.tags == ["demo"]
    deployment.tags = ["edited"]
    deployment.apply()
    (listed,) = deployments()
    assert listed["tags"] == ["edited"] and listed["work_queue_name"] == "test"


def test_build_uploads_to_a_storage_block_and_execute_pulls_from_it(project: Path, tmp_path_factory: Any) -> None:
    from sluice.filesystems import LocalFileSystem

    store = tmp_path_factory.mktemp("store")
    LocalFileSystem(basepath=str(store)).save("shared")
    (project / ".sluiceignore").write_text("secret.txt\n")
    (project / "secret.txt").write_text("nope")
    result = sluice(
        "deployment", "build", "flows/marvin.py:say_hi", "-n", "stored", "-q", "test",
        "-sb", "local-file-system/shared/sub", "--apply",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "Uploaded 2 files" in result.stdout
    assert (store / "sub" / "flows" / "marvin.py").is_file()
    assert not (store / "sub" / "secret.txt").exists()
    data = yaml.safe_load((project / "say_hi-deployment.yaml").read_text())
    assert data["path"] == "sub"
    assert data["storage"]["_block_document_name"] == "shared"
    inspected = json.loads(sluice("deployment", "inspect", "say-hi/stored", "--json").stdout)
    assert inspected["storage"]["name"] == "shared" and inspected["storage"]["type"] == "local-file-system"
    (project / "flows" / "marvin.py").unlink()  # the run must use the uploaded copy
    executed = sluice("deployment", "execute", "say-hi/stored", "--param", "name=Ford")
    assert executed.exit_code == 0, executed.stderr
    assert "finished in state Completed" in executed.stdout


def test_dry_run_lists_the_files_and_changes_nothing(project: Path, tmp_path_factory: Any) -> None:
    from sluice.filesystems import LocalFileSystem

    store = tmp_path_factory.mktemp("store")
    LocalFileSystem(basepath=str(store)).save("shared")
    result = sluice(
        "deployment", "build", "flows/marvin.py:say_hi", "-n", "m", "-sb", "local-file-system/shared", "--dry-run"
    )
    assert result.exit_code == 0, result.stderr
    assert "flows/marvin.py" in result.stdout and "Would upload 1 file" in result.stdout
    assert list(store.iterdir()) == []
    assert_nothing_written(project)


# -- flows whose *items and **options are not named args and kwargs -------------------------------------


def applied_gather(project: Path) -> None:
    (project / "flows" / "gather.py").write_text(GATHER)
    result = sluice(
        "deployment", "build", "flows/gather.py:gather", "-n", "g", "-q", "test", "-a", "--param", "prefix=p"
    )
    assert result.exit_code == 0, result.stderr


def logs_of_the_run() -> list[str]:
    with get_client() as client:
        (run,) = client.filter_flow_runs()
        return [log.message for log in client.filter_logs(run.id)]


def test_build_puts_default_parameters_of_other_names_into_options(project: Path) -> None:
    (project / "flows" / "gather.py").write_text(GATHER)
    result = sluice(
        "deployment", "build", "flows/gather.py:gather", "-n", "g", "--param", "prefix=p", "--param", "colour=red"
    )
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load((project / "gather-deployment.yaml").read_text())
    assert data["parameters"] == {"prefix": "p", "options": {"colour": "red"}}
    assert data["parameter_openapi_schema"]["properties"]["options"]["variadic"] == "keyword"
    assert data["parameter_openapi_schema"]["properties"]["items"]["variadic"] == "positional"


def test_execute_spreads_items_and_options_given_by_their_names(project: Path) -> None:
    applied_gather(project)
    result = sluice(
        "deployment", "execute", "gather/g", "--param", "items=[1, 2]", "--param", 'options={"colour": "red"}'
    )
    assert result.exit_code == 0, result.stderr
    assert "p items=[1, 2] options={'colour': 'red'}" in logs_of_the_run()


def test_run_takes_a_parameter_of_any_other_name_for_options(project: Path) -> None:
    applied_gather(project)
    result = sluice("deployment", "run", "gather/g", "--param", "colour=red")
    assert result.exit_code == 0, result.stderr
    with get_client() as client:
        (run,) = client.filter_flow_runs()
    assert run.parameters == {"prefix": "p", "colour": "red"}  # the engine puts colour into options


def test_execute_gives_a_parameter_of_any_other_name_to_options(project: Path) -> None:
    applied_gather(project)
    result = sluice("deployment", "execute", "gather/g", "--param", "colour=red")
    assert result.exit_code == 0, result.stderr
    assert "p items=[] options={'colour': 'red'}" in logs_of_the_run()


# -- runs -------------------------------------------------------------------------------------------


def test_run_creates_a_scheduled_run_with_the_parameters(project: Path) -> None:
    applied(project)
    result = sluice("deployment", "run", "say-hi/marvin", "--param", "name=Arthur", "--tag", "adhoc")
    assert result.exit_code == 0, result.stderr
    run_id = result.stdout.split("with id '")[1].split("'")[0]
    with get_client() as client:
        run = client.read_flow_run(run_id)
    assert run.parameters["name"] == "Arthur"
    assert run.state.type.value == "SCHEDULED"
    assert "adhoc" in run.tags


def test_run_start_in_schedules_it_later(project: Path) -> None:
    applied(project)
    result = sluice("deployment", "run", "say-hi/marvin", "--start-in", "10 minutes")
    run_id = result.stdout.split("with id '")[1].split("'")[0]
    with get_client() as client:
        run = client.read_flow_run(run_id)
    assert run.state.scheduled_time is not None
    assert 500 < (run.state.scheduled_time - run.created).total_seconds() < 700


def test_execute_runs_it_here_and_records_logs(project: Path) -> None:
    applied(project)
    result = sluice("deployment", "execute", "say-hi/marvin", "--param", "name=Zaphod", "--param", "times=2")
    assert result.exit_code == 0, result.stderr
    with get_client() as client:
        (run,) = client.filter_flow_runs()
        messages = [log.message for log in client.filter_logs(run.id)]
    assert run.state.type.value == "COMPLETED"
    assert messages.count("Hello Zaphod!") == 2


def stand_in_agent() -> threading.Thread:
    """A thread that claims the first run it sees, then runs it here (no real agent needed)."""
    from sluice.engine import execute_flow_run

    def claim_and_execute() -> None:
        deadline = time.monotonic() + 30
        with get_client() as client:
            while time.monotonic() < deadline:
                runs = client.filter_flow_runs()
                if runs:
                    client.set_flow_run_state(runs[0].id, "PENDING", force=True)
                    execute_flow_run(runs[0].id)
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=claim_and_execute)
    thread.start()
    return thread


def test_run_watch_follows_the_run_to_its_end(project: Path) -> None:
    applied(project)
    agent = stand_in_agent()
    result = sluice("deployment", "run", "say-hi/marvin", "--param", "name=Trillian", "--watch")
    agent.join()
    assert result.exit_code == 0, result.stderr
    assert "Hello Trillian!" in result.stdout
    assert "is Completed" in result.stdout


def test_run_watch_with_a_timeout_exits_0_when_the_run_completes_in_time(project: Path) -> None:
    applied(project)
    agent = stand_in_agent()
    result = sluice("deployment", "run", "say-hi/marvin", "--param", "name=Ford", "--watch", "--watch-timeout", "120")
    agent.join()
    assert result.exit_code == 0, result.stderr
    assert "Hello Ford!" in result.stdout
    assert "is Completed" in result.stdout


def test_run_watch_timeout_without_an_agent_names_the_run_and_its_queue_and_leaves_it_alone(project: Path) -> None:
    applied(project)
    result = sluice("deployment", "run", "say-hi/marvin", "--watch", "--watch-timeout", "0.01")
    with get_client() as client:
        (run,) = client.filter_flow_runs()
    assert result.exit_code == 124
    assert f"Flow run '{run.name}' is Scheduled" in result.stdout  # the progress still shows
    assert_error(result, f"stopped watching flow run '{run.name}' ({run.id}) after 0.01s; it is still Scheduled")
    assert "is an agent running on work queue 'test'? (sluice agent start -q test)" in result.stderr
    assert run.state.type.value == "SCHEDULED"


def test_run_watch_timeout_of_a_run_due_later_says_when_it_is_due(project: Path) -> None:
    applied(project)
    result = sluice("deployment", "run", "say-hi/marvin", "--start-in", "1 hour", "--watch", "--watch-timeout", "0.01")
    assert result.exit_code == 124
    assert_error(result, "it is still Scheduled: it is due at ")


def test_a_failing_run_makes_execute_exit_non_zero(project: Path) -> None:
    (project / "flows" / "marvin.py").write_text(MARVIN + "\n\n@flow\ndef fails():\n    raise ValueError('bad')\n")
    result = sluice("deployment", "build", "flows/marvin.py:fails", "-n", "f", "-q", "test", "--apply")
    assert result.exit_code == 0, result.stderr
    executed = sluice("deployment", "execute", "fails/f")
    assert executed.exit_code == 1
    assert "finished in state Failed: Flow run encountered an exception. ValueError: bad" in executed.stdout


# -- schedules, preview, delete --------------------------------------------------------------------


def test_schedule_commands(project: Path) -> None:
    applied(project)
    assert sluice("deployment", "set-schedule", "say-hi/marvin", "--cron", "*/5 * * * *").exit_code == 0
    (listed,) = deployments()
    assert listed["schedule"]["cron"] == "*/5 * * * *" and listed["is_schedule_active"]
    assert sluice("deployment", "pause-schedule", "say-hi/marvin").exit_code == 0
    assert deployments()[0]["is_schedule_active"] is False
    assert "(paused)" in sluice("deployment", "ls").stdout
    assert sluice("deployment", "resume-schedule", "say-hi/marvin").exit_code == 0
    assert deployments()[0]["is_schedule_active"] is True
    assert sluice("deployment", "clear-schedule", "say-hi/marvin").exit_code == 0
    assert deployments()[0]["schedule"] is None


def test_set_schedule_with_an_invalid_cron_changes_nothing(project: Path) -> None:
    applied(project, "--interval", "60")
    assert_error(sluice("deployment", "set-schedule", "say-hi/marvin", "--cron", "61 * * * *"), "invalid cron")
    assert deployments()[0]["schedule"]["type"] == "interval"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--interval", "0"], "invalid interval schedule: interval: interval must be more than 0 seconds, got 0"),
        (["--cron", ""], "invalid cron schedule: cron: empty cron expression"),
        (["--cron", "0 9 * * *", "--timezone", ""], "unknown timezone ''"),
    ],
)
def test_set_schedule_with_a_given_but_empty_value_says_what_is_wrong(
    project: Path, options: list[str], message: str
) -> None:
    applied(project, "--interval", "60")
    assert_error(sluice("deployment", "set-schedule", "say-hi/marvin", *options), message)
    assert deployments()[0]["schedule"]["interval"] == 60


def test_set_schedule_with_a_rule_too_costly_to_compute_changes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_SCHEDULE_MAX_SCANNED", "10000")
    applied(project, "--interval", "60")
    result = sluice("deployment", "set-schedule", "say-hi/marvin", "--rrule", "FREQ=SECONDLY;COUNT=1000000000")
    assert_error(result, "is too costly to compute")
    assert "give a DTSTART close to now" in result.stderr
    assert deployments()[0]["schedule"]["type"] == "interval"


def test_preview_shows_the_command(project: Path) -> None:
    path = built(project, "--override", "env.GREETING=hi")
    result = sluice("deployment", "preview", str(path))
    assert result.exit_code == 0, result.stderr
    assert "sluice.engine" in result.stdout


def test_delete_by_name_and_by_id(project: Path) -> None:
    deployment_id = applied(project)
    assert sluice("deployment", "delete", "say-hi/marvin").exit_code == 0
    assert deployments() == []
    applied(project)
    deployment_id = deployments()[0]["id"]
    assert sluice("deployment", "delete", "--id", deployment_id).exit_code == 0
    assert deployments() == []


# -- Prefect 2 files -------------------------------------------------------------------------------


def test_a_prefect_deployment_file_applies_and_its_prefect_import_fails_at_run_time(project: Path) -> None:
    from tests.core.test_deployment_yaml import PREFECT_FILE

    (project / "flows" / "marvin.py").write_text("from prefect import flow\n\n@flow\ndef say_hi():\n    pass\n")
    path = project / "prefect.yaml"
    path.write_text(PREFECT_FILE.replace("/home/arthur/project", str(project)))
    result = sluice("deployment", "apply", str(path))
    assert result.exit_code == 0, result.stderr
    executed = sluice("deployment", "execute", "say-hi/marvin")
    assert executed.exit_code == 1
    with get_client() as client:
        (run,) = client.filter_flow_runs()
    assert run.state.type.value == "FAILED"
    assert "flows/marvin.py imports 'prefect'" in run.state.message


# -- bad input: one line, non-zero, nothing changed ------------------------------------------------


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("flows/nope.py:say_hi", "flow file 'flows/nope.py' does not exist"),
        ("flows/marvin.py:say_bye", "no function 'say_bye' in flows/marvin.py (flows there: say_hi)"),
        ("flows/marvin.py:get_run_logger", "'get_run_logger' in flows/marvin.py is a function, not a flow"),
    ],
)
def test_build_with_a_bad_entrypoint(project: Path, entrypoint: str, message: str) -> None:
    assert_error(sluice("deployment", "build", entrypoint, "-n", "m"), message)
    assert_nothing_written(project)


def test_build_with_a_syntax_error_names_file_and_line(project: Path) -> None:
    (project / "flows" / "marvin.py").write_text("from sluice import flow\n\n\n@flow\ndef say_hi(:\n    pass\n")
    assert_error(
        sluice("deployment", "build", "flows/marvin.py:say_hi", "-n", "m"), "syntax error in flows/marvin.py, line 5"
    )
    assert_nothing_written(project)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-i", "nomad-job"], "Unknown infrastructure block type 'nomad-job': no installed plugin provides it"),
        (["-i", "local-file-system"], "Unknown infrastructure block type 'local-file-system': it is a storage block"),
        (["-ib", "local-file-system/dev"], "'local-file-system': it is a storage block type, not an infrastructure"),
        (["-sb", "process/dev"], "Unknown storage block type 'process': it is an infrastructure block type, not a"),
        (["-sb", "nowhere/x"], "Unknown storage block type 'nowhere'"),
        (["-sb", "local-file-system/missing"], "local-file-system/missing not found"),
        (["--param", "times=many"], "parameter 'times': Input should be a valid integer"),
        (["--param", "colour=red"], "unknown parameter 'colour' for flow function 'say_hi'"),
        (["--params", "[1]"], "--params must be a JSON object"),
        (["--cron", "61 * * * *"], "invalid cron schedule"),
        (["--cron", "0 9 * * *", "--interval", "60"], "give only one of --cron, --interval, --rrule and --schedule"),
        (["--cron", "0 9 * * *", "--timezone", "Mars/Olympus"], "unknown timezone 'Mars/Olympus'"),
        (["--interval", "0"], "invalid interval schedule: interval: interval must be more than 0 seconds, got 0"),
        (["--interval", "0", "--cron", "0 9 * * *"], "give only one of --cron, --interval, --rrule and --schedule"),
        (["--cron", "0 9 * * *", "--schedule", "{type: cron, cron: '0 9 * * *'}"], "give only one of --cron"),
        (["--schedule", "[1, 2]"], "--schedule must be a mapping with the schedule's type and fields"),
        (["--schedule", "{type: cron, cron: '0 9 * * *'"], "--schedule is not valid YAML or JSON"),
        (["--schedule", "{every: 5}"], "a schedule needs a 'type' naming its schedule type (installed: cron, interval"),
        (["--schedule", "{type: weekdays}"], "Unknown schedule type 'weekdays': no installed plugin provides it"),
        (
            ["--schedule", "{type: cron, cron: '0 9 * * *', timezone: UTC}", "--timezone", "Europe/Paris"],
            "give the time zone once",
        ),
        (["--schedule", "&a {type: cron, cron: *a}"], "YAML anchors and aliases (& and *) are not accepted"),
        (["--cron", ""], "invalid cron schedule: cron: empty cron expression"),
        (["--rrule", ""], "invalid rrule schedule"),
        (["--cron", "0 9 * * *", "--timezone", ""], "unknown timezone ''"),
        (["--timezone", ""], "--timezone needs --cron, --interval, --rrule or --schedule"),
        (["--override", "env.KEY"], "--override 'env.KEY' is not KEY=VALUE"),
        (["--override", "colour=red"], "process blocks have no field 'colour'"),
        (["-o", "missing/out.yaml"], "the folder 'missing' does not exist"),
    ],
)
def test_build_with_bad_options_changes_nothing(project: Path, options: list[str], message: str) -> None:
    result = sluice("deployment", "build", "flows/marvin.py:say_hi", "-n", "m", "--apply", *options)
    assert_error(result, message)
    assert_nothing_written(project)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: m\nflow_name: [oops\n", "invalid YAML"),
        ("name: m\nflow_name: say-hi\nwork_queue: test\n", "unknown field 'work_queue'"),
        ("name: m\nflow_name: say-hi\ninfrastructure:\n  type: nomad-job\n", "Unknown infrastructure block type"),
        ("name: m\nflow_name: say-hi\nschedule:\n  cron: 'x'\n", "invalid cron schedule"),
        (
            "name: m\nflow_name: say-hi\nparameters: {times: many}\n"
            "parameter_openapi_schema: {properties: {times: {type: integer}}}\n",
            "parameter 'times': 'many' is not of type 'integer'",
        ),
    ],
)
def test_apply_of_a_bad_file_changes_nothing(project: Path, content: str, message: str) -> None:
    (project / "bad.yaml").write_text(content)
    assert_error(sluice("deployment", "apply", "bad.yaml"), message)
    assert deployments() == []


def test_apply_of_a_missing_file(project: Path) -> None:
    assert_error(sluice("deployment", "apply", "nope.yaml"), "deployment file 'nope.yaml' does not exist")


@pytest.mark.parametrize("command", ["inspect", "run", "execute", "delete", "pause-schedule"])
def test_commands_on_a_deployment_that_does_not_exist(project: Path, command: str) -> None:
    assert_error(sluice("deployment", command, "say-hi/nope"), "deployment 'say-hi/nope' not found")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--param", "times=many"], "parameter 'times': 'many' is not of type 'integer'"),
        (["--param", "colour=red"], "unknown parameter 'colour'"),
        (["--start-in", "soonish"], "--start-in 'soonish': use a duration"),
        (["--start-at", "tomorrow"], "--start-at 'tomorrow' is not an ISO 8601 time"),
        (["--watch", "--watch-timeout", "0"], "--watch-timeout '0': give a positive number of seconds"),
        (["--watch", "--watch-timeout", "-5"], "--watch-timeout '-5': give a positive number of seconds"),
        (["--watch", "--watch-timeout", "soon"], "--watch-timeout 'soon': give a positive number of seconds"),
        (["--watch-timeout", "60"], "--watch-timeout needs --watch"),
    ],
)
def test_run_with_bad_options_creates_no_run(project: Path, options: list[str], message: str) -> None:
    applied(project)
    assert_error(sluice("deployment", "run", "say-hi/marvin", *options), message)
    with get_client() as client:
        assert client.filter_flow_runs() == []


def test_a_name_without_a_flow_is_explained(project: Path) -> None:
    assert_error(sluice("deployment", "inspect", "marvin"), "use 'flow-name/deployment-name'")


def test_build_with_path_makes_the_entrypoint_relative_to_it(project: Path) -> None:
    built(project, "--path", "flows")
    data = yaml.safe_load((project / "say_hi-deployment.yaml").read_text())
    assert data["path"] == str((project / "flows").resolve())
    assert data["entrypoint"] == "marvin.py:say_hi"
    assert sluice("deployment", "apply", "say_hi-deployment.yaml").exit_code == 0
    executed = sluice("deployment", "execute", "say-hi/marvin")
    assert executed.exit_code == 0, executed.stdout + executed.stderr


def test_build_with_a_saved_infrastructure_block(project: Path) -> None:
    from sluice.plugins import get_registry

    get_registry("infrastructure").get("process")(env={"GREETING": "hi"}).save("local")
    applied(project, "-ib", "process/local")
    data = yaml.safe_load((project / "say_hi-deployment.yaml").read_text())
    assert data["infrastructure"]["_block_document_name"] == "local"
    inspected = json.loads(sluice("deployment", "inspect", "say-hi/marvin", "--json").stdout)
    assert inspected["infrastructure_document_id"] is not None
    assert inspected["infrastructure"]["env"] == {"GREETING": "hi"}


def test_build_with_a_missing_infrastructure_block_changes_nothing(project: Path) -> None:
    assert_error(sluice("deployment", "build", "flows/marvin.py:say_hi", "-n", "m", "-ib", "process/nope"), "not found")
    assert_nothing_written(project)


def test_build_from_a_module_entrypoint_keeps_it(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "flows" / "__init__.py").write_text("")
    (project / "flows" / "modflow_unique.py").write_text(MARVIN)
    monkeypatch.syspath_prepend(str(project))
    applied_result = sluice("deployment", "build", "flows.modflow_unique:say_hi", "-n", "mod", "-q", "test", "--apply")
    assert applied_result.exit_code == 0, applied_result.stderr
    data = yaml.safe_load((project / "say_hi-deployment.yaml").read_text())
    assert data["entrypoint"] == "flows.modflow_unique:say_hi"
    executed = sluice("deployment", "execute", "say-hi/mod")
    for module in [name for name in sys.modules if name == "flows" or name.startswith("flows.")]:
        monkeypatch.delitem(sys.modules, module)
    assert executed.exit_code == 0, executed.stdout + executed.stderr
