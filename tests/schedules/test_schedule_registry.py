"""Schedule types are found through their entry points, round-trip through JSON, and clash loudly."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from typing import Any, ClassVar, Literal

import pytest
from typer.testing import CliRunner

from sluice.errors import ConfigurationError, DuplicateSlugError, UnknownSlugError
from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager, use_plugin_manager
from sluice.schedules import Schedule, Shorthand, schedule_from_dict, typed_schedule_data
from sluice_cron.schedule import CronSchedule
from sluice_interval.schedule import IntervalSchedule
from sluice_rrule.schedule import RRuleSchedule

SCHEDULE_PLUGINS = {
    "cron": ("sluice-cron", CronSchedule),
    "interval": ("sluice-interval", IntervalSchedule),
    "rrule": ("sluice-rrule", RRuleSchedule),
}

JSON_FORMS: list[dict[str, Any]] = [
    {"type": "cron", "cron": "0 9 * * *", "timezone": "Europe/London", "day_or": True},
    {"type": "cron", "cron": "*/15 * * * 1-5", "timezone": "UTC", "day_or": False},
    {"type": "interval", "interval": 3600, "anchor_date": "2026-01-01T00:00:00Z", "timezone": "UTC"},
    {
        "type": "interval",
        "interval": 86400,
        "anchor_date": "2026-01-01T09:00:00-05:00",
        "timezone": "America/New_York",
    },
    {"type": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9", "timezone": "America/New_York"},
    {"type": "rrule", "rrule": "DTSTART;TZID=Europe/London:20260105T090000\nRRULE:FREQ=DAILY", "timezone": None},
]


@pytest.mark.parametrize("slug", sorted(SCHEDULE_PLUGINS))
def test_each_schedule_type_is_found_through_its_installed_entry_point(slug: str) -> None:
    distribution, cls = SCHEDULE_PLUGINS[slug]
    registry = PluginManager().registry("schedule")
    assert registry.get(slug) is cls
    entry = next(entry for entry in registry.entries() if entry.slug == slug)
    assert entry.distribution == distribution
    assert entry.plugin == slug


@pytest.mark.parametrize("data", JSON_FORMS, ids=lambda data: f"{data['type']}:{data.get('timezone')}")
def test_schedule_from_dict_round_trips_through_the_json_form(data: dict[str, Any]) -> None:
    with use_plugin_manager(PluginManager()):
        schedule = schedule_from_dict(data)
        dumped = schedule.model_dump(mode="json")
        assert dumped == data
        assert json.loads(json.dumps(dumped)) == dumped
        again = schedule_from_dict(dumped)
    assert again == schedule
    start = datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    assert again.get_dates(5, start=start) == schedule.get_dates(5, start=start)


def test_schedule_from_dict_without_a_type_says_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="a schedule needs a 'type'"):
        schedule_from_dict({"cron": "0 9 * * *"})


def test_schedule_from_dict_wraps_an_invalid_spec_with_the_bad_part() -> None:
    with use_plugin_manager(PluginManager()), pytest.raises(ConfigurationError) as caught:
        schedule_from_dict({"type": "cron", "cron": "61 * * * *"})
    assert "invalid cron field 'minute': '61' is out of range 0-59 in '61 * * * *'" in str(caught.value)


class _AcmeCron(Schedule):
    """A rival 'cron' schedule type from another distribution."""

    type: Literal["cron"] = "cron"

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        return []

    def describe(self) -> str:
        return "never"


class _AcmeCronPlugin:
    """A test plugin that registers the rival type."""

    @hookimpl
    def register_schedules(self, register: Any) -> None:
        register(_AcmeCron)


def test_a_slug_two_plugins_register_is_disabled_and_its_lookup_names_both_distributions(
    sluice_plugin_manager: PluginManager,
) -> None:
    import sluice_cron

    sluice_plugin_manager.register(sluice_cron, name="cron", distribution="sluice-cron", version="0.1.0")
    sluice_plugin_manager.register(_AcmeCronPlugin(), name="acme-cron", distribution="acme-sluice-cron")
    with pytest.warns(UserWarning), pytest.raises(DuplicateSlugError) as caught:
        schedule_from_dict({"type": "cron", "cron": "0 9 * * *"})
    message = str(caught.value)
    assert "'cron'" in message
    assert "sluice-cron" in message
    assert "acme-sluice-cron" in message


def test_an_unknown_slug_says_what_is_installed_without_inventing_a_package(
    sluice_plugin_manager: PluginManager,
) -> None:
    with pytest.raises(UnknownSlugError) as caught:
        schedule_from_dict({"type": "hourglass", "every": "a while"})
    assert str(caught.value) == (
        "Unknown schedule type 'hourglass': no installed plugin provides it; install a plugin that provides it "
        "(installed: none; see `sluice plugins ls`)."
    )


def test_plugins_ls_json_lists_the_three_schedule_plugins() -> None:
    from sluice.cli import build_app

    with use_plugin_manager(PluginManager()):
        result = CliRunner().invoke(build_app(), ["plugins", "ls", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    for slug, (distribution, _) in SCHEDULE_PLUGINS.items():
        assert plugins[slug]["distribution"] == distribution
        assert plugins[slug]["slugs"] == {"schedule": [slug]}
        assert plugins[slug]["hooks"] == ["register_schedules"]
        assert plugins[slug]["error"] is None


@pytest.mark.parametrize("package", ["sluice_cron", "sluice_interval", "sluice_rrule"])
def test_plugin_package_import_is_light(package: str) -> None:
    code = (
        f"import sys, {package}; "
        f"heavy = [m for m in ('{package}.schedule', 'pydantic', 'dateutil') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# -- declarations: shorthands and the untyped form --------------------------------------------------


class _Tick(Schedule):
    """A third party's type with a shorthand and an untyped form."""

    type: Literal["tick"] = "tick"
    tick: int = 1
    shorthands: ClassVar[tuple[Shorthand, ...]] = (Shorthand("--tick", field="tick", type=int),)
    untyped_key: ClassVar[str | None] = "tick"

    def get_dates(self, n: int, start: datetime | None = None, end: datetime | None = None) -> list[datetime]:
        return []

    def describe(self) -> str:
        return f"every {self.tick} ticks"


def _plugin_of(*classes: type[Schedule]) -> object:
    class Plugin:
        @hookimpl
        def register_schedules(self, register: Any) -> None:
            for cls in classes:
                register(cls)

    return Plugin()


def test_an_untyped_schedule_takes_the_type_that_declares_its_key(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(_plugin_of(_Tick), name="tick", distribution="acme-tick")
    assert typed_schedule_data({"tick": 3}) == {"type": "tick", "tick": 3}
    assert schedule_from_dict(typed_schedule_data({"tick": 3})).describe() == "every 3 ticks"
    assert typed_schedule_data({"tock": 3}) == {"tock": 3}  # no type reads it: schedule_from_dict says so


def test_the_first_party_types_declare_prefect_s_untyped_keys() -> None:
    with use_plugin_manager(PluginManager()):
        assert [typed_schedule_data({key: "x"})["type"] for key in ("cron", "interval", "rrule")] == [
            "cron",
            "interval",
            "rrule",
        ]


def test_an_untyped_schedule_two_types_could_read_asks_for_its_type(sluice_plugin_manager: PluginManager) -> None:
    class _Tock(_Tick):
        type: Literal["tock"] = "tock"

    sluice_plugin_manager.register(_plugin_of(_Tick, _Tock), name="ticks", distribution="acme-ticks")
    with pytest.raises(ConfigurationError, match=r"a schedule without a 'type' may be tick or tock: give its type"):
        typed_schedule_data({"tick": 3})


class _BadOption(_Tick):
    type: Literal["bad-option"] = "bad-option"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (Shorthand("tick", field="tick"),)


class _BadField(_Tick):
    type: Literal["bad-field"] = "bad-field"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (Shorthand("--bad-field", field="tock"),)


class _BadType(_Tick):
    type: Literal["bad-type"] = "bad-type"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (Shorthand("--bad-type", field="tick", type=list),)


class _Reserved(_Tick):
    type: Literal["reserved"] = "reserved"
    shorthands: ClassVar[tuple[Shorthand, ...]] = (Shorthand("--timezone", field="tick"),)


class _BadKey(_Tick):
    type: Literal["bad-key"] = "bad-key"
    untyped_key: ClassVar[str | None] = "tock"


def test_malformed_declarations_are_refused_at_registration(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(
        _plugin_of(_BadOption, _BadField, _BadType, _Reserved, _BadKey, _Tick), name="sloppy", distribution="sloppy"
    )
    with pytest.warns(UserWarning):
        assert sluice_plugin_manager.registry("schedule").slugs() == ["tick"]
    [info] = [info for info in sluice_plugin_manager.plugins() if info.name == "sloppy"]
    assert "shorthand option 'tick' must look like '--word'" in (info.error or "")
    assert "shorthand --bad-field fills 'tock', which is not a field of the type" in (info.error or "")
    assert "shorthand --bad-type has type <class 'list'>: use str, int or float" in (info.error or "")
    assert "shorthand option --timezone is the CLI's own" in (info.error or "")
    assert "_BadKey.untyped_key 'tock' is not a field of the type" in (info.error or "")
