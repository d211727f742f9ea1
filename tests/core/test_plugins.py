"""The plugin manager: discovery, registries, duplicate slugs, failures and the allow-list."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from sluice.blocks import Block, get_block_class
from sluice.errors import DuplicateSlugError, UnknownSlugError
from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager, get_plugin_manager, set_plugin_manager
from sluice.schedules import Schedule
from tests.plugin_installs import make_distribution


class _EverySecond(Schedule):
    type: Literal["every-second"] = "every-second"

    def get_dates(self, n, start=None, end=None):  # type: ignore[no-untyped-def]
        return []

    def describe(self) -> str:
        return "every second"


class _AlsoEverySecond(_EverySecond):
    pass


class SchedulePlugin:
    @hookimpl
    def register_schedules(self, register):  # type: ignore[no-untyped-def]
        register(_EverySecond)


class ClashingSchedulePlugin:
    @hookimpl
    def register_schedules(self, register):  # type: ignore[no-untyped-def]
        register(_AlsoEverySecond)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path where tests install fake distributions."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("fake_sluice_")]:
        del sys.modules[name]


def test_a_registered_plugin_provides_its_slug(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(SchedulePlugin(), name="every", distribution="sluice-every")
    assert sluice_plugin_manager.registry("schedule").get("every-second") is _EverySecond


def test_a_slug_two_plugins_claim_is_disabled_and_its_lookup_names_both(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(SchedulePlugin(), name="one", distribution="sluice-one")
    sluice_plugin_manager.register(ClashingSchedulePlugin(), name="two", distribution="sluice-two")
    with pytest.warns(UserWarning, match=r"'every-second' is also registered by"):
        registry = sluice_plugin_manager.registry("schedule")
    assert "every-second" not in registry
    with pytest.raises(DuplicateSlugError) as error:
        registry.get("every-second")
    assert "'every-second'" in str(error.value) and "uninstall one of them" in str(error.value)
    assert "sluice-one" in str(error.value) and "sluice-two" in str(error.value)


def test_a_duplicate_slug_disables_that_slug_alone_and_flags_both_plugins(
    sluice_plugin_manager: PluginManager,
) -> None:
    class _Hourly(_EverySecond):
        type: Literal["hourly-test"] = "hourly-test"  # type: ignore[assignment]

    class BothPlugin:
        @hookimpl
        def register_schedules(self, register):  # type: ignore[no-untyped-def]
            register(_AlsoEverySecond)
            register(_Hourly)

    sluice_plugin_manager.register(SchedulePlugin(), name="one", distribution="sluice-one")
    sluice_plugin_manager.register(BothPlugin(), name="two", distribution="sluice-two")
    with pytest.warns(UserWarning):
        assert sluice_plugin_manager.registry("schedule").get("hourly-test") is _Hourly
    listed = {info.name: info for info in sluice_plugin_manager.plugins()}
    assert "also registered by sluice-two" in (listed["one"].error or "")
    assert "also registered by sluice-one" in (listed["two"].error or "")
    assert listed["two"].status == "broken" and listed["two"].slugs == {"schedule": ["hourly-test"]}


def test_an_unknown_slug_lists_what_is_installed(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(SchedulePlugin(), name="every", distribution="sluice-every")
    with pytest.raises(UnknownSlugError, match=r"installed: every-second"):
        sluice_plugin_manager.registry("schedule").get("weekly")


def test_an_unknown_slug_names_no_package(sluice_plugin_manager: PluginManager) -> None:
    with pytest.raises(UnknownSlugError) as caught:
        sluice_plugin_manager.registry("storage").get("s3")
    assert "sluice-s3" not in str(caught.value) and "install a plugin that provides it" in str(caught.value)


def test_an_unknown_slug_another_kind_serves_says_which_kind_it_is(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(SchedulePlugin(), name="every", distribution="sluice-every")
    with pytest.raises(UnknownSlugError) as caught:
        sluice_plugin_manager.registry("infrastructure").get("every-second")
    assert str(caught.value) == (
        "Unknown infrastructure block type 'every-second': it is a schedule type, not an infrastructure block type "
        "(installed: none; see `sluice plugins ls`)."
    )


def test_a_class_of_the_wrong_kind_is_refused(sluice_plugin_manager: PluginManager) -> None:
    class WrongPlugin:
        @hookimpl
        def register_storage_blocks(self, register):  # type: ignore[no-untyped-def]
            register(_EverySecond)

    sluice_plugin_manager.register(WrongPlugin(), name="wrong", distribution="sluice-wrong")
    with pytest.warns(UserWarning, match=r"sluice-wrong.*not a subclass of sluice.blocks.StorageBlock"):
        assert "every-second" not in sluice_plugin_manager.registry("storage")


class _Login(Block):
    """A login another block uses."""

    block_type_slug: ClassVar[str] = "test-login"
    username: str


class _OtherLogin(_Login):
    pass


def test_a_plain_block_given_to_a_block_hook_is_a_supporting_type(sluice_plugin_manager: PluginManager) -> None:
    calls: list[str] = []

    class LoginPlugin:
        @hookimpl
        def register_storage_blocks(self, register):  # type: ignore[no-untyped-def]
            calls.append("storage")
            register(_Login)

    sluice_plugin_manager.register(LoginPlugin(), name="login", distribution="sluice-login")
    assert sluice_plugin_manager.registry("supporting").get("test-login") is _Login
    assert "test-login" not in sluice_plugin_manager.registry("storage")
    assert calls == ["storage"]  # the hook is still called once, for both registries
    [entry] = sluice_plugin_manager.registry("supporting").entries()
    assert entry.distribution == "sluice-login"
    assert {info.name: info.slugs for info in sluice_plugin_manager.plugins()}["login"] == {
        "supporting": ["test-login"]
    }


def test_a_supporting_slug_two_plugins_claim_is_disabled_naming_both(sluice_plugin_manager: PluginManager) -> None:
    class StoragePlugin:
        @hookimpl
        def register_storage_blocks(self, register):  # type: ignore[no-untyped-def]
            register(_Login)

    class InfrastructurePlugin:
        @hookimpl
        def register_infrastructure_blocks(self, register):  # type: ignore[no-untyped-def]
            register(_OtherLogin)

    sluice_plugin_manager.register(StoragePlugin(), name="one", distribution="sluice-one")
    sluice_plugin_manager.register(InfrastructurePlugin(), name="two", distribution="sluice-two")
    with pytest.warns(UserWarning):
        sluice_plugin_manager.registry("supporting")
    with pytest.raises(DuplicateSlugError, match=r"supporting block type 'test-login'.*sluice-one.*sluice-two"):
        get_block_class("test-login")


def test_an_unknown_block_type_slug_says_no_plugin_provides_it(sluice_plugin_manager: PluginManager) -> None:
    with pytest.raises(UnknownSlugError, match=r"Unknown block type 'docker-registry': no installed plugin provides"):
        get_block_class("docker-registry")


def test_plugins_are_found_through_entry_points(site: Path) -> None:
    make_distribution(
        site,
        "fake-sluice-hourly",
        "fake_sluice_hourly",
        """
        from typing import ClassVar, Literal
        from sluice.hookspecs import hookimpl
        from sluice.schedules import Schedule

        class Hourly(Schedule):
            type: Literal["fake-hourly"] = "fake-hourly"
            def get_dates(self, n, start=None, end=None):
                return []
            def describe(self):
                return "hourly"

        @hookimpl
        def register_schedules(register):
            register(Hourly)
        """,
    )
    manager = PluginManager()
    assert manager.registry("schedule").get("fake-hourly").__name__ == "Hourly"
    listed = {info.name: info for info in manager.plugins()}
    assert listed["fake_sluice_hourly"].distribution == "fake-sluice-hourly"
    assert listed["fake_sluice_hourly"].version == "1.2.3"
    assert listed["fake_sluice_hourly"].hooks == ["register_schedules"]
    assert listed["fake_sluice_hourly"].slugs == {"schedule": ["fake-hourly"]}


def test_a_plugin_that_fails_to_import_is_reported_not_skipped(site: Path) -> None:
    make_distribution(site, "fake-sluice-broken", "fake_sluice_broken", "import no_such_module_anywhere\n")
    manager = PluginManager()
    [failure] = [info for info in manager.failures if info.distribution == "fake-sluice-broken"]
    assert failure.version == "1.2.3"
    assert "ModuleNotFoundError" in (failure.error or "") and "no_such_module_anywhere" in (failure.error or "")
    assert any(info.error for info in manager.plugins() if info.name == "fake_sluice_broken")
    with pytest.raises(
        UnknownSlugError, match=r"Broken plugins: fake-sluice-broken 1\.2\.3 \(failed to import: ModuleNotFoundError"
    ):
        manager.registry("storage").get("nothing-here")


def test_a_failed_plugin_warns_when_the_manager_is_built(site: Path) -> None:
    make_distribution(site, "fake-sluice-broken", "fake_sluice_broken", "raise RuntimeError('boom')\n")
    set_plugin_manager(None)
    try:
        with pytest.warns(
            UserWarning, match=r"fake-sluice-broken 1\.2\.3\) is not loaded: failed to import: RuntimeError: boom"
        ):
            get_plugin_manager()
    finally:
        set_plugin_manager(None)


def test_a_hook_that_raises_is_reported_with_its_plugin(site: Path) -> None:
    make_distribution(
        site,
        "fake-sluice-faulty",
        "fake_sluice_faulty",
        """
        from sluice.hookspecs import hookimpl

        @hookimpl
        def register_storage_blocks(register):
            raise KeyError("missing")
        """,
    )
    manager = PluginManager(allow="fake-sluice-faulty")
    with pytest.warns(
        UserWarning, match=r"'fake_sluice_faulty' \(fake-sluice-faulty 1\.2\.3\) is broken: register_storage"
    ):
        assert manager.registry("storage").slugs() == []
    [listed] = [info for info in manager.plugins() if info.distribution == "fake-sluice-faulty"]
    assert "KeyError: 'missing'" in (listed.error or "")


def test_load_plugins_limits_which_distributions_load() -> None:
    manager = PluginManager(allow="sluice-cron")
    assert [info.distribution for info in manager.plugins()] == ["sluice", "sluice-cron"]  # the core's own + cron


def test_an_empty_load_plugins_loads_none() -> None:
    [core] = PluginManager(allow="").plugins()
    assert (core.name, core.distribution) == ("core-services", "sluice")


def test_trace_plugins_prints_every_hook_call(capsys: pytest.CaptureFixture[str]) -> None:
    manager = PluginManager(load_entry_points=False, trace=True)
    manager.register(SchedulePlugin(), name="every", distribution="sluice-every", version="9.9")
    manager.registry("schedule")
    assert "sluice: hook register_schedules(register) -> every (sluice-every 9.9)" in capsys.readouterr().err


def test_importing_sluice_loads_no_plugin() -> None:
    import subprocess

    code = (
        "import sys, sluice, sluice.plugins; "
        "print(sluice.plugins._manager is None, any(m.startswith('sluice_') for m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "True False"


# -- isolation: a broken plugin is reported and everything else keeps working (issue 13, item 6) -----


class MisnamedArgumentPlugin:
    @hookimpl
    def register_schedules(self, registrar):  # type: ignore[no-untyped-def]
        registrar(_EverySecond)


def test_a_hookimpl_pluggy_rejects_is_listed_not_raised(sluice_plugin_manager: PluginManager) -> None:
    with pytest.warns(UserWarning, match=r"'registrar' is not an argument of register_schedules"):
        sluice_plugin_manager.register(MisnamedArgumentPlugin(), name="misnamed", distribution="sluice-misnamed")
    sluice_plugin_manager.register(SchedulePlugin(), name="every", distribution="sluice-every")
    assert sluice_plugin_manager.registry("schedule").slugs() == ["every-second"]
    listed = {info.name: info for info in sluice_plugin_manager.plugins()}
    assert listed["misnamed"].status == "not loaded"
    assert "register_schedules(registrar)" in (listed["misnamed"].error or "")
    assert "(it offers: register)" in (listed["misnamed"].error or "")


def test_a_misspelled_hook_name_is_reported_with_a_suggestion(sluice_plugin_manager: PluginManager) -> None:
    class MisspelledPlugin:
        @hookimpl
        def register_schedule(self, register):  # type: ignore[no-untyped-def]
            register(_EverySecond)

        @hookimpl
        def register_storage_blocks(self, register):  # type: ignore[no-untyped-def]
            register(_Login)

    with pytest.warns(UserWarning, match=r"unknown hook 'register_schedule' \(did you mean 'register_schedules'\?\)"):
        sluice_plugin_manager.register(MisspelledPlugin(), name="typo", distribution="sluice-typo")
    [listed] = [info for info in sluice_plugin_manager.plugins() if info.name == "typo"]
    assert listed.status == "broken" and listed.hooks == ["register_storage_blocks"]
    assert sluice_plugin_manager.registry("supporting").get("test-login") is _Login  # its other hook works


def test_an_optional_hook_this_version_lacks_is_not_an_error(sluice_plugin_manager: PluginManager) -> None:
    class FuturePlugin:
        @hookimpl(optionalhook=True)
        def register_time_machines(self, register):  # type: ignore[no-untyped-def]
            pass

    sluice_plugin_manager.register(FuturePlugin(), name="future", distribution="sluice-future")
    [listed] = [info for info in sluice_plugin_manager.plugins() if info.name == "future"]
    assert listed.status == "ok" and listed.error is None


def test_an_abstract_class_is_refused_and_its_plugin_flagged(sluice_plugin_manager: PluginManager) -> None:
    from sluice.blocks import StorageBlock

    class Unfinished(StorageBlock):
        block_type_slug: ClassVar[str] = "unfinished"

    class UnfinishedPlugin:
        @hookimpl
        def register_storage_blocks(self, register):  # type: ignore[no-untyped-def]
            register(Unfinished)
            register(_Login)

    sluice_plugin_manager.register(UnfinishedPlugin(), name="unfinished", distribution="sluice-unfinished")
    with pytest.warns(UserWarning, match=r"Unfinished is abstract \(it does not implement get_directory"):
        assert "unfinished" not in sluice_plugin_manager.registry("storage")
    assert "test-login" in sluice_plugin_manager.registry("supporting")  # the plugin's valid class is kept


def test_a_type_hook_that_raises_keeps_nothing_it_registered(sluice_plugin_manager: PluginManager) -> None:
    class HalfwayPlugin:
        @hookimpl
        def register_schedules(self, register):  # type: ignore[no-untyped-def]
            register(_EverySecond)
            raise RuntimeError("halfway")

    sluice_plugin_manager.register(HalfwayPlugin(), name="halfway", distribution="sluice-halfway")
    with pytest.warns(UserWarning, match=r"register_schedules raised RuntimeError: halfway"):
        assert sluice_plugin_manager.registry("schedule").slugs() == []


def test_a_broken_plugin_warns_once(sluice_plugin_manager: PluginManager, recwarn: pytest.WarningsRecorder) -> None:
    sluice_plugin_manager.register(MisnamedArgumentPlugin(), name="misnamed", distribution="sluice-misnamed")
    for _ in range(3):
        sluice_plugin_manager.plugins()
    assert len([w for w in recwarn if "sluice-misnamed" in str(w.message)]) == 1


def test_load_plugins_naming_an_uninstalled_distribution_warns() -> None:
    with pytest.warns(UserWarning, match=r"SLUICE_LOAD_PLUGINS names sluice-crn, which is not installed") as caught:
        manager = PluginManager(allow="sluice-crn, sluice-interval")
    message = str(caught[0].message)
    assert "did you mean sluice-cron?" in message and "installed: " in message and "sluice-rrule" in message
    assert [info.distribution for info in manager.plugins()] == ["sluice", "sluice-interval"]


def test_trace_plugins_prints_import_failures_with_the_traceback(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_distribution(site, "fake-sluice-broken", "fake_sluice_broken", "raise RuntimeError('boom')\n")
    with pytest.warns(UserWarning):
        PluginManager(allow="fake-sluice-broken", trace=True)
    error = capsys.readouterr().err
    assert "fake-sluice-broken 1.2.3) is not loaded: failed to import: RuntimeError: boom" in error
    assert "Traceback (most recent call last)" in error and "fake_sluice_broken.py" in error


def test_trace_plugins_prints_hook_errors_with_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    class FaultyPlugin:
        @hookimpl
        def register_schedules(self, register):  # type: ignore[no-untyped-def]
            raise KeyError("missing")

    manager = PluginManager(load_entry_points=False, trace=True)
    manager.register(FaultyPlugin(), name="faulty", distribution="sluice-faulty")
    with pytest.warns(UserWarning):
        manager.registry("schedule")
    error = capsys.readouterr().err
    assert "register_schedules raised KeyError: 'missing'" in error and "Traceback" in error


def test_plugins_ls_json_has_each_plugins_status_and_errors(sluice_plugin_manager: PluginManager, sluice_cli) -> None:  # type: ignore[no-untyped-def]
    import json

    sluice_plugin_manager.register(MisnamedArgumentPlugin(), name="misnamed", distribution="sluice-misnamed")
    sluice_plugin_manager.register(SchedulePlugin(), name="every", distribution="sluice-every")
    result = sluice_cli("plugins", "ls", "--json")
    assert result.exit_code == 0
    listed = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    assert listed["every"]["status"] == "ok" and listed["every"]["errors"] == []
    assert listed["misnamed"]["status"] == "not loaded"
    assert listed["misnamed"]["errors"] == [listed["misnamed"]["error"]]
