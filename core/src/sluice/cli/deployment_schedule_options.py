"""The schedule options of ``deployment build`` and ``set-schedule``: ``--schedule``, ``--timezone``, and
the shorthands the installed schedule types declare (``--cron``…).

The core names no schedule type: each ``Schedule`` subclass declares its shorthands
(``sluice.schedules.Shorthand``: option, field, type, help) and ``ScheduleOptionsCommand`` turns them
into options when the command is parsed or its help is shown — not when the CLI is built, so
``sluice --help`` loads no schedule plugin. An option another type (or the command) already uses is
left out with a ``PluginLoadWarning`` naming both.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:  # pragma: no cover
    from sluice.deploy_build import ScheduleOption

#: Where ``ScheduleOptionsCommand`` leaves the shorthands given, in ``typer.Context.meta``.
GIVEN_KEY = "sluice.schedule_shorthands"


@dataclass(frozen=True)
class ShorthandOption:
    """A schedule type's shorthand, as a (click) option of one command."""

    slug: str
    field: str
    option: Any

    @property
    def flag(self) -> str:
        """The option as typed: ``--cron``."""
        return self.option.opts[0]


def shorthand_options(taken: set[str]) -> list[ShorthandOption]:
    """One click option per shorthand of the installed schedule types, sorted by option.

    An option in ``taken`` (the command's own) or declared by two types is left out, with a warning.
    """
    from sluice.plugins import PluginLoadWarning
    from sluice.schedules import schedule_types

    declared: dict[str, list[tuple[str, Any]]] = {}
    for slug, cls in schedule_types().items():
        for shorthand in cls.shorthands:
            declared.setdefault(shorthand.option, []).append((slug, shorthand))
    kept: list[tuple[str, str, Any]] = []
    for flag, claimants in sorted(declared.items()):
        if flag in taken or len(claimants) > 1:
            owners = " and ".join(slug for slug, _ in claimants)
            if flag in taken:
                clash = f"the {owners} schedule type declares {flag}, an option the command has already"
            else:
                clash = f"the {owners} schedule types both declare {flag}"
            warnings.warn(
                f"{clash}: it is left out; use --schedule '{{type: <type>, ...}}' instead",
                PluginLoadWarning,
                stacklevel=2,
            )
            continue
        slug, shorthand = claimants[0]
        kept.append((flag, slug, shorthand))
    params = _typer_options([(flag, shorthand.type, shorthand.help) for flag, _, shorthand in kept])
    return [
        ShorthandOption(slug, shorthand.field, param) for (_, slug, shorthand), param in zip(kept, params, strict=True)
    ]


def _typer_options(declared: list[tuple[str, type, str]]) -> list[Any]:
    """Click options for ``(flag, value type, help)``, made by Typer as for any command's options."""
    parameters = [
        inspect.Parameter(
            f"schedule_shorthand_{index}",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, flag, help=help_text or None),
            annotation=value_type | None,
        )
        for index, (flag, value_type, help_text) in enumerate(declared)
    ]

    def shorthands(**values: Any) -> None:
        """Stands for the options when Typer builds them."""

    shorthands.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    shorthands.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    app = typer.Typer(add_completion=False)
    app.command()(shorthands)
    return list(typer.main.get_command(app).params)


class ScheduleOptionsCommand(TyperCommand):
    """A Typer command that also takes the installed schedule types' shorthand options.

    The options are built on first need (parsing the command line, showing its help) and put just
    before ``--schedule``; their values go to ``ctx.meta[GIVEN_KEY]`` (read them with
    ``given_schedules``), not to the command function.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shorthands: list[ShorthandOption] | None = None

    def shorthands(self) -> list[ShorthandOption]:
        """The shorthand options, built once."""
        if self._shorthands is None:
            taken = {flag for param in self.params for flag in (*param.opts, *param.secondary_opts)}
            self._shorthands = shorthand_options(taken)
        return self._shorthands

    def get_params(self, ctx: Any) -> list[Any]:
        """The command's parameters with the shorthands before ``--schedule``."""
        params = super().get_params(ctx)
        extra = [item.option for item in self.shorthands()]
        position = next((index for index, param in enumerate(params) if param.name == "schedule"), len(self.params))
        return [*params[:position], *extra, *params[position:]]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse as usual; an unknown option nothing resembles may be the shorthand of a schedule type that
        is not installed: say so, in one line (a ``ConfigurationError``)."""
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            option = getattr(exc, "option_name", None)
            if type(exc).__name__ != "NoSuchOption" or not option or self._resembles_an_option(ctx, option):
                raise  # a typo of one of the command's options: click's "did you mean" says it best
            from sluice.errors import ConfigurationError
            from sluice.schedules import schedule_types

            installed = ", ".join(sorted(schedule_types())) or "none"
            raise ConfigurationError(
                f"no such option: {option}. If it gives a schedule, the schedule type that declares it is not "
                f"installed (installed schedule types: {installed}; see `sluice plugins ls`): install a plugin "
                "that provides it, or give the schedule with --schedule '{type: <type>, ...}'"
            ) from None

    def _resembles_an_option(self, ctx: Any, option: str) -> bool:
        import difflib

        known = [flag for param in self.get_params(ctx) for flag in param.opts if flag.startswith("--")]
        return bool(difflib.get_close_matches(option, known, n=1, cutoff=0.75))

    def invoke(self, ctx: Any) -> Any:
        """Move the shorthands' values out of the function's arguments into ``ctx.meta``."""
        given = {}
        for item in self.shorthands():
            value = ctx.params.pop(item.option.name or "", None)
            if value is not None:
                given[item.flag] = (item.slug, item.field, value)
        ctx.meta[GIVEN_KEY] = given
        return super().invoke(ctx)


def given_schedules(ctx: typer.Context, schedule: str | None) -> list[ScheduleOption]:
    """The schedules given to the running command ``ctx``: its shorthands, then ``--schedule``."""
    from sluice.deploy_build import ScheduleOption, parse_schedule_option

    given = ctx.meta.get(GIVEN_KEY, {})
    result = [ScheduleOption(flag, {"type": slug, field: value}) for flag, (slug, field, value) in given.items()]
    if schedule is not None:
        result.append(parse_schedule_option(schedule))
    return result


def schedule_choices(ctx: typer.Context) -> str:
    """The options that give a schedule, for messages: ``--cron, --interval, --rrule or --schedule``."""
    command = ctx.command
    flags = [item.flag for item in command.shorthands()] if isinstance(command, ScheduleOptionsCommand) else []
    flags.append("--schedule")
    return flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} or {flags[-1]}"
