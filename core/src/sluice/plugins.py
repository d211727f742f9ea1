"""The plugin manager: discovers plugins through entry points and keeps one registry per kind.

Nothing here runs at import. ``get_plugin_manager()`` builds the manager once per process, on first
need: it registers the core's own built-in plugin (its background services), loads every entry
point of the ``sluice`` group (or those allowed by ``SLUICE_LOAD_PLUGINS``), and fills a registry the
first time that kind of type is asked for.

A broken plugin is isolated, never fatal: one that fails to import, has a hook implementation pluggy
refuses, implements a hook that does not exist, raises in a hook, registers an invalid class or
claims a slug another plugin claims is recorded on its ``PluginInfo`` (``sluice plugins ls``) and
reported once by a ``PluginLoadWarning``; what it added before failing is taken back, and every other
plugin keeps working.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import pluggy

from sluice import hookspecs
from sluice.entry_points import find_entry_points, normalise
from sluice.errors import PluginError
from sluice.registries import KINDS, Kind, RegisteredType, Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "HookStage",
    "Kind",
    "PluginInfo",
    "PluginLoadWarning",
    "PluginManager",
    "RegisteredType",
    "Registry",
    "get_plugin_manager",
    "get_registry",
    "set_plugin_manager",
    "unknown_slug_message",
    "use_plugin_manager",
]

ENTRY_POINT_GROUP = "sluice"

#: Kinds an unknown slug is looked for among, to say "it is a storage block type, not ...". Services are
#: left out: their names are not slugs a user types.
_KINDS_USERS_NAME = ("storage", "infrastructure", "supporting", "schedule", "queue_backend")


class PluginLoadWarning(UserWarning):
    """An installed plugin is broken (it failed to import, was refused, or failed in a hook), or
    ``SLUICE_LOAD_PLUGINS`` names a plugin that is not installed. ``sluice plugins ls`` lists the
    broken plugins with their errors; the CLI prints each warning as one line."""


@dataclass
class PluginInfo:
    """What ``sluice plugins ls`` shows about one plugin, its problems included."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    slugs: dict[str, list[str]] = field(default_factory=dict)
    #: What is wrong with the plugin, one line each (empty when it works).
    errors: list[str] = field(default_factory=list)
    #: False when nothing of the plugin is in use: it failed to import, or pluggy refused it.
    loaded: bool = True

    @property
    def error(self) -> str | None:
        """Every problem on one line, or None when the plugin works."""
        return "; ".join(self.errors) or None

    @property
    def status(self) -> str:
        """``ok``, ``broken`` (loaded, but part of it failed) or ``not loaded``."""
        if not self.loaded:
            return "not loaded"
        return "broken" if self.errors else "ok"

    @property
    def label(self) -> str:
        """``'name' (distribution version)``, as messages name a plugin."""
        return f"{self.name!r} ({self.distribution} {self.version})"

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as printed by ``sluice plugins ls --json``."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "hooks": self.hooks,
            "slugs": self.slugs,
            "error": self.error,
            "errors": self.errors,
        }


def unknown_slug_message(kinds: tuple[str, ...], slug: str, manager: PluginManager) -> str:
    """``Unknown <kind> '<slug>'``: that no installed plugin provides it (or which other kind it is),
    what is installed, where to look, and which plugins are broken.

    :param kinds: the kinds the slug was looked for in (``("infrastructure",)``; the three block
        kinds for "a block type"). The message names the first one's description, or "block type".
    """
    describe = KINDS[kinds[0]].describe if len(kinds) == 1 else "block type"
    known = sorted(found for kind in kinds for found in manager.registry(kind).slugs())
    installed = f"installed: {', '.join(known) or 'none'}; see `sluice plugins ls`"
    other = _other_kind_of(slug, kinds, manager)
    if other is not None:
        reason = f"it is {_article(other)} {other}, not {_article(describe)} {describe}"
    else:
        reason = "no installed plugin provides it; install a plugin that provides it"
    message = f"Unknown {describe} '{slug}': {reason} ({installed})."
    broken = manager.failures
    if broken:
        message += " Broken plugins: " + "; ".join(
            f"{info.distribution} {info.version} ({info.error})" for info in broken
        )
    return message


def _other_kind_of(slug: str, searched: tuple[str, ...], manager: PluginManager) -> str | None:
    """The description of another kind that serves ``slug`` (a storage type given as infrastructure), or None."""
    for kind in _KINDS_USERS_NAME:
        if kind in searched:
            continue
        try:
            if slug in manager.registry(kind):
                return KINDS[kind].describe
        except Exception:  # looking further is a courtesy: a kind that cannot be read is skipped
            continue
    return None


def _article(words: str) -> str:
    return "an" if words[:1] in "aeiou" else "a"


class HookStage(Protocol):
    """What one plugin's ``register_commands``/``register_routes`` added, to check and take back.

    The caller of ``call_hook`` makes one before each plugin's implementation runs (a snapshot of
    the Typer or FastAPI app); a failing implementation's additions are undone, so a plugin that
    raised halfway never leaves the CLI or the app half-built.
    """

    def check(self) -> str | None:
        """Why what was added cannot be kept (one line), or None."""

    def undo(self) -> None:
        """Remove everything added since the stage was made."""


def _hook_names() -> list[str]:
    """The name of every hookspec."""
    return [name for name in vars(hookspecs) if name.startswith("register_")]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe_exception(exc: BaseException) -> str:
    return _one_line(f"{type(exc).__name__}: {exc}")


#: A warning is one terminal line or two: a longer problem is cut (``plugins ls`` has it whole).
_WARNING_PROBLEM_CHARS = 300


class PluginManager:
    """Sluice's wrapper around a pluggy manager: plugins with their distributions, and registries."""

    def __init__(
        self,
        load_entry_points: bool = True,
        allow: str | None = None,
        trace: bool = False,
        builtins: bool = True,
    ) -> None:
        """Build a manager.

        :param load_entry_points: load the installed plugins (tests pass False, then ``register``).
        :param allow: ``SLUICE_LOAD_PLUGINS``: comma-separated distributions to load; "" loads none.
        :param trace: ``SLUICE_TRACE_PLUGINS``: print every hook call, and every problem with its traceback.
        :param builtins: register the core's built-in plugin (its background services); tests of
            services pass False to run only their own.
        """
        self._pm = pluggy.PluginManager("sluice")
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry] = {}
        #: Registries of kinds without a hook, filled while their feeders' hooks are called.
        self._fed: dict[str, Registry] = {}
        #: (plugin, problem) pairs already warned about: each problem is reported once per process.
        self._reported: set[tuple[str, str]] = set()
        self.trace = trace
        if builtins:
            from sluice import __version__
            from sluice.server import builtin_services

            self._add(builtin_services, "core-services", "sluice", __version__)
        if load_entry_points:
            self.load_entry_points(allow)

    # -- loading ---------------------------------------------------------------------------------

    def load_entry_points(self, allow: str | None = None) -> None:
        """Load the plugins of the ``sluice`` entry-point group, recording every failure.

        :param allow: comma-separated distribution names to load (``SLUICE_LOAD_PLUGINS``); an empty
            string loads none; None loads all. A name that is not installed is warned about.
        """
        allowed = None if allow is None else {normalise(n): n.strip() for n in allow.split(",") if n.strip()}
        found = find_entry_points(ENTRY_POINT_GROUP)
        with self._lock:
            for entry_point in found:
                if allowed is not None and normalise(entry_point.distribution) not in allowed:
                    continue
                self._load(entry_point)
            if allowed:
                self._warn_not_installed(allowed, sorted({e.distribution for e in found}, key=normalise))
            self._report()

    def _load(self, entry_point: Any) -> None:
        name, distribution, version = entry_point.name, entry_point.distribution, entry_point.version
        taken = self._infos.get(name)
        if taken is not None:
            info = self._infos[f"{name} ({distribution})"] = PluginInfo(name, distribution, version, loaded=False)
            self.flag(info, f"its entry point name {name!r} is taken by {taken.distribution}; rename one of them")
            return
        try:
            plugin = entry_point.load()
        except Exception as exc:  # a broken plugin is reported, never allowed to stop every command
            info = self._infos[name] = PluginInfo(name, distribution, version, loaded=False)
            self.flag(info, f"failed to import: {_describe_exception(exc)}", exc)
            return
        self._add(plugin, name, distribution, version)

    def _warn_not_installed(self, allowed: dict[str, str], installed: list[str]) -> None:
        import difflib

        by_key = {normalise(name): name for name in installed}
        for key, given in allowed.items():
            if key in by_key:
                continue
            close = difflib.get_close_matches(key, list(by_key), n=1)
            hint = f" (did you mean {by_key[close[0]]}?)" if close else ""
            warnings.warn(
                f"SLUICE_LOAD_PLUGINS names {given}, which is not installed{hint}; "
                f"installed: {', '.join(installed) or 'none'}.",
                PluginLoadWarning,
                stacklevel=4,
            )

    def register(
        self, plugin: object, name: str | None = None, distribution: str | None = None, version: str = "0"
    ) -> PluginInfo:
        """Register a plugin object (a module or an instance with hook implementations).

        Tests use this to add a small plugin class to a fresh manager. A plugin pluggy refuses is
        recorded (and warned about) like an installed one, not raised; the returned ``PluginInfo``
        says how it went.
        """
        with self._lock:
            info = self._add(plugin, name, distribution, version)
            self._report()
            return info

    def _add(self, plugin: object, name: str | None, distribution: str | None, version: str) -> PluginInfo:
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self._infos:
            raise PluginError(f"a plugin named {name!r} is already registered")
        info = self._infos[name] = PluginInfo(name, distribution or name, version)
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # pluggy checks every hookimpl first and registers nothing on failure
            info.loaded = False
            self.flag(info, self._refusal(plugin, exc), exc)
            return info
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.flag(info, unknown)
        self._registries.clear()
        self._fed.clear()
        return info

    def _hookimpls(self, plugin: object) -> Iterator[tuple[str, Any, dict[str, Any]]]:
        """(hook name, function, options) of each hook implementation of ``plugin``."""
        for attribute in dir(plugin):
            options = self._pm.parse_hookimpl_opts(plugin, attribute)
            if options is not None:
                yield options.get("specname") or attribute, getattr(plugin, attribute), dict(options)

    def _refusal(self, plugin: object, exc: Exception) -> str:
        """One line saying why pluggy refused ``plugin`` (its own message spans several)."""
        for hook_name, function, _ in self._hookimpls(plugin):
            caller = getattr(self._pm.hook, hook_name, None)
            spec = getattr(caller, "spec", None)
            if spec is None:
                continue
            try:
                names = list(inspect.signature(function).parameters)
            except (TypeError, ValueError):
                continue
            extra = [name for name in names if name not in spec.argnames]
            if extra:
                listed = ", ".join(repr(name) for name in extra)
                verb = "is not an argument" if len(extra) == 1 else "are not arguments"
                return (
                    f"{hook_name}({', '.join(names)}): {listed} {verb} of {hook_name} "
                    f"(it offers: {', '.join(spec.argnames)})"
                )
        return f"refused by pluggy: {_describe_exception(exc)}"

    def _unknown_hooks(self, plugin: object) -> str | None:
        """A line naming the hooks ``plugin`` implements that no hookspec declares (typos), or None."""
        import difflib

        known = _hook_names()
        problems = []
        for hook_name, _, options in self._hookimpls(plugin):
            if hook_name in known or options.get("optionalhook"):
                continue  # an optional hook is one a newer Sluice has: fine to lack here
            close = difflib.get_close_matches(hook_name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"implements unknown hook {hook_name!r}{hint}, which is never called")
        return "; ".join(problems) or None

    # -- problems --------------------------------------------------------------------------------

    def flag(self, plugin: PluginInfo | str, problem: str, exc: BaseException | None = None) -> None:
        """Record ``problem`` on a plugin (by info or name); ``trace`` prints it with its traceback."""
        info = plugin if isinstance(plugin, PluginInfo) else self._infos.get(plugin)
        problem = _one_line(problem)
        if info is None or problem in info.errors:
            return
        info.errors.append(problem)
        if self.trace:
            import traceback

            state = "is not loaded" if not info.loaded else "is broken"
            print(f"sluice: plugin {info.label} {state}: {problem}", file=sys.stderr)
            if exc is not None:
                traceback.print_exception(exc, file=sys.stderr)

    def _report(self) -> None:
        """One ``PluginLoadWarning`` per plugin with problems not reported yet."""
        for key, info in self._infos.items():
            new = [problem for problem in info.errors if (key, problem) not in self._reported]
            if not new:
                continue
            self._reported.update((key, problem) for problem in new)
            state = "is not loaded" if not info.loaded else "is broken"
            text = "; ".join(new)
            if len(text) > _WARNING_PROBLEM_CHARS:
                text = text[: _WARNING_PROBLEM_CHARS - 1] + "…"
            warnings.warn(
                f"plugin {info.label} {state}: {text}. Run `sluice plugins ls` for details.",
                PluginLoadWarning,
                stacklevel=3,
            )

    @property
    def failures(self) -> list[PluginInfo]:
        """Plugins with a problem (not loaded, or broken), with their errors."""
        return [info for info in self._infos.values() if info.errors]

    # -- hooks -----------------------------------------------------------------------------------

    def call_hook(self, hook_name: str, stage: Callable[[], HookStage] | None = None, **kwargs: Any) -> None:
        """Call ``hook_name`` on every plugin that implements it, one plugin at a time.

        Each implementation gets the subset of ``kwargs`` it names. One that raises — or whose
        additions ``stage().check()`` refuses — is flagged and what it added undone
        (``stage().undo()``); the next plugin is called as if nothing happened.
        """
        caller = getattr(self._pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            info = self._infos.get(impl.plugin_name)
            staged = stage() if stage is not None else None
            try:
                self._call_impl(impl, info, hook_name, kwargs)
                problem = staged.check() if staged is not None else None
            except Exception as exc:
                if staged is not None:
                    staged.undo()
                self.flag(
                    impl.plugin_name, f"{hook_name} raised {_describe_exception(exc)}; nothing it added was kept", exc
                )
                continue
            if problem is not None:
                assert staged is not None
                staged.undo()
                self.flag(impl.plugin_name, f"{hook_name}: {problem}; nothing it added was kept")
        self._report()

    def _call_impl(self, impl: Any, info: PluginInfo | None, hook_name: str, kwargs: dict[str, Any]) -> None:
        args = {name: kwargs[name] for name in impl.argnames}
        if self.trace:
            label = f"{impl.plugin_name} ({info.distribution} {info.version})" if info else impl.plugin_name
            print(f"sluice: hook {hook_name}({', '.join(args)}) -> {label}", file=sys.stderr)
        impl.function(**args)

    def registry(self, kind: str) -> Registry:
        """The registry of one kind (``storage``, ``infrastructure``, ``supporting``, ``schedule``,
        ``queue_backend``, ``service``, ``task_runner``), filled by calling its hook on first use.

        ``supporting`` has no hook of its own: it is filled while the storage and infrastructure
        hooks are called, with the plain ``Block`` subclasses they register.
        """
        with self._lock:
            found = self._registries.get(kind)
            if found is not None:
                return found
            spec = KINDS[kind]
            if spec.fed_by:
                for feeder in spec.fed_by:
                    self.registry(feeder)
                registry = self._fed_registry(kind)
            else:
                registry = self._fill(spec)
            self._registries[kind] = registry
            return registry

    def _fed_registry(self, kind: str) -> Registry:
        found = self._fed.get(kind)
        if found is None:
            found = self._fed[kind] = Registry(KINDS[kind], self)
        return found

    def _target(self, spec: Kind, registry: Registry, cls: type[Any]) -> Registry:
        """The registry a class handed to ``spec``'s hook goes to: a kind fed by it that takes it, or its own."""
        for other in KINDS.values():
            if spec.name in other.fed_by and other.takes is not None and other.takes(cls):
                return self._fed_registry(other.name)
        return registry

    def _fill(self, spec: Kind) -> Registry:
        """Call ``spec``'s hook on every plugin; each plugin's valid classes are kept only if its
        implementation returned normally (a refused class is left out alone)."""
        registry = Registry(spec, self)
        caller = getattr(self._pm.hook, spec.hook)
        for impl in reversed(caller.get_hookimpls()):
            info = self._infos.get(impl.plugin_name)
            staged: list[tuple[Registry, type[Any]]] = []

            def register(cls: type[Any], _plugin: str = impl.plugin_name, _staged: list = staged) -> None:
                target = self._target(spec, registry, cls)
                try:
                    target.check(cls)
                except Exception as exc:  # a class of the wrong kind, abstract, without a slug...
                    name = f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else repr(cls)
                    self.flag(_plugin, f"{spec.hook}: refused {name}: {_one_line(str(exc))}")
                    return
                _staged.append((target, cls))

            try:
                self._call_impl(impl, info, spec.hook, {"register": register})
            except Exception as exc:
                message = f"{spec.hook} raised {_describe_exception(exc)}; none of the types it registered were kept"
                self.flag(impl.plugin_name, message, exc)
                continue
            distribution = info.distribution if info else impl.plugin_name
            for target, cls in staged:
                target.add(cls, impl.plugin_name, distribution)
        registry.flag_clashes()
        for fed in self._fed.values():
            fed.flag_clashes()
        self._report()
        return registry

    # -- introspection ---------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin with the hooks it implements and the slugs it provides, problems included."""
        slugs_by_plugin: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for entry in self.registry(kind).entries():
                slugs_by_plugin.setdefault(entry.plugin, {}).setdefault(kind, []).append(entry.slug)
        result = []
        for key, info in sorted(self._infos.items()):
            if info.loaded:
                plugin = self._pm.get_plugin(key)
                callers = self._pm.get_hookcallers(plugin) or []
                info.hooks = sorted(caller.name for caller in callers if caller.has_spec())
                info.slugs = slugs_by_plugin.get(key, {})
            result.append(info)
        return result


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built on first call from the installed entry points.

    ``SLUICE_LOAD_PLUGINS`` limits which distributions load; ``SLUICE_TRACE_PLUGINS=1`` prints each
    hook call and each plugin problem with its traceback. A broken plugin produces a
    ``PluginLoadWarning`` (once per problem) and is listed by ``sluice plugins ls``.
    """
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = PluginManager(
                    allow=os.environ.get("SLUICE_LOAD_PLUGINS"),
                    trace=os.environ.get("SLUICE_TRACE_PLUGINS", "").lower() in ("1", "true", "yes"),
                )
    return _manager


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide manager (None: rebuild it on next use). Meant for tests."""
    global _manager
    _manager = manager


@contextmanager
def use_plugin_manager(manager: PluginManager) -> Iterator[PluginManager]:
    """Use ``manager`` as the process-wide plugin manager inside a ``with`` block."""
    global _manager
    previous = _manager
    _manager = manager
    try:
        yield manager
    finally:
        _manager = previous


def get_registry(kind: str) -> Registry:
    """Shortcut for ``get_plugin_manager().registry(kind)``."""
    return get_plugin_manager().registry(kind)


def signature_of(hook_name: str) -> inspect.Signature:
    """The signature of a hookspec, used to check the docs against the code."""
    return inspect.signature(getattr(hookspecs, hook_name))
