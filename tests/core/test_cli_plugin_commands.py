"""Commands added by plugins (``register_commands``): a plugin that fails leaves the CLI whole."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager

hello = typer.Typer(help="Say hello.")


@hello.command("world")
def world() -> None:
    """Print a greeting."""
    typer.echo("hello, world")


class HelloPlugin:
    @hookimpl
    def register_commands(self, app):  # type: ignore[no-untyped-def]
        app.add_typer(hello, name="hello")


def half() -> None:
    """Added before the hook raised."""


class HalfwayPlugin:
    @hookimpl
    def register_commands(self, app):  # type: ignore[no-untyped-def]
        app.command("half-added")(half)
        app.add_typer(typer.Typer(), name="half-group")
        raise RuntimeError("commands boom")


def run(*args: str) -> object:
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


def problems_of(manager: PluginManager, name: str) -> str:
    [info] = [info for info in manager.plugins() if info.name == name]
    return info.error or ""


def test_a_plugin_command_group_is_added(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(HelloPlugin(), name="hello", distribution="sluice-hello")
    result = run("hello", "world")
    assert result.exit_code == 0 and result.output == "hello, world\n"  # type: ignore[attr-defined]


def test_a_plugin_raising_in_register_commands_leaves_no_half_added_command(
    sluice_plugin_manager: PluginManager, recwarn: object
) -> None:
    sluice_plugin_manager.register(HelloPlugin(), name="hello", distribution="sluice-hello")
    sluice_plugin_manager.register(HalfwayPlugin(), name="halfway", distribution="sluice-halfway")
    result = run("--help")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "hello" in result.output and "deployment" in result.output  # type: ignore[attr-defined]
    assert "half-added" not in result.output and "half-group" not in result.output  # type: ignore[attr-defined]
    assert "register_commands raised RuntimeError: commands boom" in problems_of(sluice_plugin_manager, "halfway")


def test_a_plugin_command_typer_cannot_build_is_refused(sluice_plugin_manager: PluginManager, recwarn: object) -> None:
    class Unbuildable:
        pass

    def takes_an_object(thing: Unbuildable) -> None:
        """Typer cannot turn this parameter into an option."""

    class UnbuildablePlugin:
        @hookimpl
        def register_commands(self, app):  # type: ignore[no-untyped-def]
            app.command("unbuildable")(takes_an_object)

    sluice_plugin_manager.register(UnbuildablePlugin(), name="unbuildable", distribution="sluice-unbuildable")
    sluice_plugin_manager.register(HelloPlugin(), name="hello", distribution="sluice-hello")
    result = run("--help")
    assert result.exit_code == 0 and "unbuildable" not in result.output  # type: ignore[attr-defined]
    assert "cannot be built" in problems_of(sluice_plugin_manager, "unbuildable")


def test_a_plugin_cannot_replace_a_core_command_group(sluice_plugin_manager: PluginManager, recwarn: object) -> None:
    impostor = typer.Typer()

    @impostor.command("ls")
    def fake_ls() -> None:
        """Not the real one."""
        typer.echo("impostor")

    class ImpostorPlugin:
        @hookimpl
        def register_commands(self, app):  # type: ignore[no-untyped-def]
            app.add_typer(impostor, name="work-queue")

    sluice_plugin_manager.register(ImpostorPlugin(), name="impostor", distribution="sluice-impostor")
    result = run("work-queue", "ls", "--json")
    assert result.exit_code == 0 and "impostor" not in result.output  # type: ignore[attr-defined]
    assert "a command 'work-queue' already exists" in problems_of(sluice_plugin_manager, "impostor")
