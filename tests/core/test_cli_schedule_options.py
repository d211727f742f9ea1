"""The schedule options of ``deployment build`` and ``set-schedule`` (cli/deployment_schedule_options.py):
shorthands declared by the installed schedule types, ``--schedule`` for any type, ``--timezone`` for
either, and ``sluice --help`` loading no schedule plugin (issue 13, item 4)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.client import get_client
from sluice.hookspecs import hookimpl
from sluice.plugins import PluginLoadWarning, PluginManager, use_plugin_manager
from sluice.schedules import Schedule, Shorthand
from tests.e2e.processes import SLUICE


class Pulse(Schedule):
    """Every ``pulse`` minutes, counted from midnight UTC: a schedule type no first-party plugin has."""

    type: Literal["pulse"] = "pulse"
    pulse: int = Field(gt=0, description="Minutes between runs.")
    shorthands: ClassVar[tuple[Shorthand, ...]] = (
        Shorthand("--pulse", field="pulse", type=int, help="A pulse schedule: every N minutes."),
    )
    untyped_key: ClassVar[str | None] = "pulse"

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        begin, end = self._bounds(start, end)
        step = timedelta(minutes=self.pulse)
        midnight = begin.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        current = midnight + -((midnight - begin) // step) * step
        dates = []
        while len(dates) < n and (end is None or current <= end):
            dates.append(current.astimezone(self.zone))
            current += step
        return dates

    def describe(self) -> str:
        return f"every {self.pulse} minutes"


class PulsePlugin:
    @hookimpl
    def register_schedules(self, register: Any) -> None:
        register(Pulse)


def sluice(*args: str) -> Any:
    """Run the CLI in-process; the Click result (stdout and stderr apart)."""
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


@pytest.fixture
def with_pulse() -> Iterator[PluginManager]:
    """The installed plugins plus the ``pulse`` schedule type, in force for the test."""
    manager = PluginManager()
    manager.register(PulsePlugin(), name="acme-pulse", distribution="acme-pulse")
    with use_plugin_manager(manager):
        yield manager


@pytest.fixture
def deployment() -> Any:
    """The deployment ``etl/nightly``, without a schedule."""
    with get_client() as client:
        return client.create_deployment("nightly", flow_name="etl", work_queue_name="etl")


def stored_schedule(deployment: Any) -> dict[str, Any]:
    with get_client() as client:
        return client.read_deployment(deployment.id).schedule


@pytest.mark.usefixtures("with_pulse")
def test_a_plugin_s_shorthand_is_an_option_of_build_and_set_schedule(deployment: Any) -> None:
    assert "--pulse <int>" in sluice("deployment", "build", "--help").stdout
    result = sluice("deployment", "set-schedule", "etl/nightly", "--pulse", "5")
    assert result.exit_code == 0, result.stderr
    assert "set to every 5 minutes" in result.stdout
    assert stored_schedule(deployment) == {"type": "pulse", "pulse": 5, "timezone": None}


@pytest.mark.usefixtures("with_pulse")
def test_the_schedule_option_takes_any_installed_type_with_the_timezone_option(deployment: Any) -> None:
    result = sluice(
        "deployment",
        "set-schedule",
        "etl/nightly",
        "--schedule",
        "{type: pulse, pulse: 10}",
        "--timezone",
        "Europe/Paris",
    )
    assert result.exit_code == 0, result.stderr
    assert stored_schedule(deployment) == {"type": "pulse", "pulse": 10, "timezone": "Europe/Paris"}


@pytest.mark.usefixtures("with_pulse")
def test_the_schedule_option_reads_json_and_a_type_s_untyped_form(deployment: Any) -> None:
    assert sluice("deployment", "set-schedule", "etl/nightly", "--schedule", '{"pulse": 15}').exit_code == 0
    assert stored_schedule(deployment)["type"] == "pulse"


@pytest.mark.usefixtures("with_pulse")
def test_a_shorthand_value_of_the_wrong_type_is_refused_before_anything_changes(deployment: Any) -> None:
    result = sluice("deployment", "set-schedule", "etl/nightly", "--pulse", "often")
    assert result.exit_code != 0
    assert stored_schedule(deployment) is None


def test_set_schedule_without_a_schedule_names_the_options_the_installed_types_give(deployment: Any) -> None:
    result = sluice("deployment", "set-schedule", "etl/nightly")
    assert result.exit_code == 1
    assert result.stderr == "Error: give a schedule: --cron, --interval, --rrule or --schedule\n"


class Rival(Pulse):
    """Another type declaring ``--pulse``, and one declaring an option ``build`` already has."""

    type: Literal["rival"] = "rival"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (
        Shorthand("--pulse", field="pulse", type=int),
        Shorthand("--name", field="pulse", type=int),
        Shorthand("--rival", field="pulse", type=int),
    )
    untyped_key: ClassVar[str | None] = None


class RivalPlugin:
    @hookimpl
    def register_schedules(self, register: Any) -> None:
        register(Rival)


def test_an_option_two_types_declare_or_the_command_has_is_left_out_with_a_warning(with_pulse: PluginManager) -> None:
    with_pulse.register(RivalPlugin(), name="acme-rival", distribution="acme-rival")
    with pytest.warns(PluginLoadWarning) as caught:
        help_text = sluice("deployment", "build", "--help").stdout
    messages = [str(warning.message) for warning in caught]
    assert "the pulse and rival schedule types both declare --pulse: it is left out; use --schedule" in " ".join(
        messages
    )
    assert "the rival schedule type declares --name, an option the command has already" in " ".join(messages)
    assert "--pulse" not in help_text and "--rival <int>" in help_text
    assert help_text.count("--name") == 1


def traced_hooks(*args: str) -> str:
    env = {**os.environ, "SLUICE_TRACE_PLUGINS": "1"}
    return subprocess.run([SLUICE, *args], env=env, capture_output=True, text=True, timeout=60, check=True).stderr


def test_sluice_help_loads_no_schedule_plugin_and_build_help_does() -> None:
    assert "hook register_schedules" not in traced_hooks("--help")
    assert "hook register_schedules" in traced_hooks("deployment", "build", "--help")
