"""The plugin manager: discovery, registries, duplicate slugs, failures and the allow-list."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from sluice.blocks import Block, get_block_class
from sluice.errors import DuplicateSlugError, UnknownSlugError
from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager, get_plugin_manager, package_for_slug, set_plugin_manager
from sluice.schedules import Schedule


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


def make_distribution(root: Path, name: str, module: str, source: str, entry_point: str | None = None) -> None:
    """Write an installed-looking distribution (dist-info + module) under ``root``."""
    dist_info = root / f"{name.replace('-', '_')}-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text(f"[sluice]\n{entry_point or module} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


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


def test_two_plugins_claiming_one_slug_is_an_error_naming_both(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(SchedulePlugin(), name="one", distribution="sluice-one")
    sluice_plugin_manager.register(ClashingSchedulePlugin(), name="two", distribution="sluice-two")
    with pytest.raises(DuplicateSlugError) as error:
        sluice_plugin_manager.registry("schedule")
    assert "'every-second'" in str(error.value)
    assert "sluice-one" in str(error.value) and "sluice-two" in str(error.value)


def test_an_unknown_slug_says_which_package_to_install(sluice_plugin_manager: PluginManager) -> None:
    with pytest.raises(UnknownSlugError, match=r"pip install sluice-s3"):
        sluice_plugin_manager.registry("storage").get("s3")


def test_an_unknown_slug_lists_what_is_installed(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(SchedulePlugin(), name="every", distribution="sluice-every")
    with pytest.raises(UnknownSlugError, match=r"installed: every-second"):
        sluice_plugin_manager.registry("schedule").get("weekly")


def test_package_names_for_first_party_slugs() -> None:
    assert package_for_slug("s3") == "sluice-s3"
    assert package_for_slug("local-file-system") == "sluice-local"
    assert package_for_slug("docker-container") == "sluice-docker"
    assert package_for_slug("sql") == "sluice-queue-sql"
    assert package_for_slug("acme") == "sluice-acme"


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


def test_two_plugins_claiming_one_supporting_slug_is_an_error_naming_both(
    sluice_plugin_manager: PluginManager,
) -> None:
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
    with pytest.raises(DuplicateSlugError, match=r"supporting block type 'test-login'.*sluice-one.*sluice-two"):
        sluice_plugin_manager.registry("supporting")


def test_an_unknown_block_type_slug_says_which_package_to_install(sluice_plugin_manager: PluginManager) -> None:
    with pytest.raises(UnknownSlugError, match=r"Unknown block type 'docker-registry': .*pip install sluice-docker"):
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
    with pytest.raises(UnknownSlugError, match=r"fake-sluice-broken 1\.2\.3 \(ModuleNotFoundError"):
        manager.registry("storage").get("nothing-here")


def test_a_failed_plugin_warns_when_the_manager_is_built(site: Path) -> None:
    make_distribution(site, "fake-sluice-broken", "fake_sluice_broken", "raise RuntimeError('boom')\n")
    set_plugin_manager(None)
    try:
        with pytest.warns(UserWarning, match=r"fake-sluice-broken 1\.2\.3\) failed to load: RuntimeError: boom"):
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
    with pytest.warns(UserWarning, match=r"fake_sluice_faulty \(fake-sluice-faulty 1\.2\.3\) failed in"):
        assert manager.registry("storage").slugs() == []
    [listed] = manager.plugins()
    assert "KeyError: 'missing'" in (listed.error or "")


def test_load_plugins_limits_which_distributions_load() -> None:
    manager = PluginManager(allow="sluice-cron")
    assert [info.distribution for info in manager.plugins()] == ["sluice-cron"]


def test_an_empty_load_plugins_loads_none() -> None:
    assert PluginManager(allow="").plugins() == []


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
