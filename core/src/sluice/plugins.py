"""The plugin manager: discovers plugins through entry points and keeps one registry per kind.

Nothing here runs at import. ``get_plugin_manager()`` builds the manager once per process, on first
need: it loads every entry point of the ``sluice`` group (or those allowed by
``SLUICE_LOAD_PLUGINS``), records each plugin that fails to import instead of skipping it silently,
and fills a registry the first time that kind of type is asked for.
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
from typing import Any

import pluggy

from sluice import hookspecs
from sluice.entry_points import find_entry_points, normalise
from sluice.errors import DuplicateSlugError, PluginError, UnknownSlugError

ENTRY_POINT_GROUP = "sluice"

# The first-party distribution that provides each slug, for "install X" messages. A slug not listed
# here is assumed to come from ``sluice-<slug>``.
PACKAGE_FOR_SLUG: dict[str, str] = {
    "local-file-system": "sluice-local",
    "remote-file-system": "sluice-remote-fs",
    "s3": "sluice-s3",
    "gcs": "sluice-gcs",
    "azure": "sluice-azure",
    "smb": "sluice-smb",
    "github": "sluice-github",
    "process": "sluice-process",
    "docker-container": "sluice-docker",
    "docker-registry": "sluice-docker",
    "kubernetes-job": "sluice-kubernetes",
    "kubernetes-cluster-config": "sluice-kubernetes",
    "cron": "sluice-cron",
    "interval": "sluice-interval",
    "rrule": "sluice-rrule",
    "sql": "sluice-queue-sql",
}


def package_for_slug(slug: str) -> str:
    """The distribution to install for a slug: ``sluice-s3`` for ``s3``."""
    return PACKAGE_FOR_SLUG.get(slug, f"sluice-{slug}")


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be imported; it is listed by ``sluice plugins ls``."""


@dataclass(frozen=True)
class Kind:
    """One kind of pluggable type: the hook that registers it and how to read a class's slug.

    A kind with ``fed_by`` has no hook of its own: it records the classes handed to those kinds'
    hooks that ``takes`` accepts (a registry login given to ``register_infrastructure_blocks``).
    """

    name: str
    hook: str
    describe: str
    slug_of: Callable[[type[Any]], str]
    check: Callable[[type[Any]], None]
    fed_by: tuple[str, ...] = ()
    takes: Callable[[type[Any]], bool] | None = None


def _block_slug(cls: type[Any]) -> str:
    slug = getattr(cls, "block_type_slug", None)
    if not isinstance(slug, str) or not slug:
        raise PluginError(f"{cls.__qualname__} has no 'block_type_slug' class attribute")
    return slug


def _schedule_slug(cls: type[Any]) -> str:
    fields = getattr(cls, "model_fields", {})
    type_field = fields.get("type")
    slug = getattr(type_field, "default", None)
    if not isinstance(slug, str) or not slug:
        raise PluginError(f'{cls.__qualname__} must declare type: Literal["<slug>"] = "<slug>" to be a schedule type')
    return slug


def _queue_backend_slug(cls: type[Any]) -> str:
    slug = getattr(cls, "slug", None)
    if not isinstance(slug, str) or not slug:
        raise PluginError(f"{cls.__qualname__} has no 'slug' class attribute")
    return slug


def _subclass_check(module: str, name: str) -> Callable[[type[Any]], None]:
    def check(cls: type[Any]) -> None:
        base = getattr(__import__(module, fromlist=[name]), name)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"{cls!r} is not a subclass of {module}.{name}")

    return check


def _block_check(base_name: str) -> Callable[[type[Any]], None]:
    subclass_check = _subclass_check("sluice.blocks", base_name)

    def check(cls: type[Any]) -> None:
        try:
            subclass_check(cls)
        except PluginError as exc:
            raise PluginError(f"{exc} (or of sluice.blocks.Block, for a supporting block type)") from None

    return check


def _is_supporting_block(cls: type[Any]) -> bool:
    """A ``Block`` that is neither storage nor infrastructure: a registry login, a cluster config."""
    from sluice.blocks import Block, InfrastructureBlock, StorageBlock

    return isinstance(cls, type) and issubclass(cls, Block) and not issubclass(cls, StorageBlock | InfrastructureBlock)


def _supporting_check(cls: type[Any]) -> None:
    if not _is_supporting_block(cls):
        raise PluginError(f"{cls!r} is not a supporting block type (a sluice.blocks.Block subclass)")


def _queue_backend_check(cls: type[Any]) -> None:
    missing = [name for name in ("claim_runs", "wait_for_work") if not callable(getattr(cls, name, None))]
    if missing:
        raise PluginError(f"{cls!r} is not a queue backend: it lacks {', '.join(missing)}")


KINDS: dict[str, Kind] = {
    "storage": Kind(
        "storage",
        "register_storage_blocks",
        "storage block type",
        _block_slug,
        _block_check("StorageBlock"),
    ),
    "infrastructure": Kind(
        "infrastructure",
        "register_infrastructure_blocks",
        "infrastructure block type",
        _block_slug,
        _block_check("InfrastructureBlock"),
    ),
    # Plain blocks that storage or infrastructure blocks use (a Docker registry login, a kubeconfig),
    # registered through those two hooks so that plugins need no seventh hook.
    "supporting": Kind(
        "supporting",
        "",
        "supporting block type",
        _block_slug,
        _supporting_check,
        fed_by=("storage", "infrastructure"),
        takes=_is_supporting_block,
    ),
    "schedule": Kind(
        "schedule",
        "register_schedules",
        "schedule type",
        _schedule_slug,
        _subclass_check("sluice.schedules", "Schedule"),
    ),
    "queue_backend": Kind(
        "queue_backend",
        "register_queue_backends",
        "queue backend",
        _queue_backend_slug,
        _queue_backend_check,
    ),
}


@dataclass
class PluginInfo:
    """What ``sluice plugins ls`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    slugs: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as printed by ``sluice plugins ls --json``."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "slugs": self.slugs,
            "error": self.error,
        }


@dataclass
class RegisteredType:
    """A type in a registry, with the plugin that gave it."""

    slug: str
    cls: type[Any]
    plugin: str
    distribution: str


class Registry:
    """The types of one kind, by slug."""

    def __init__(self, kind: Kind, manager: PluginManager) -> None:
        self.kind = kind
        self._manager = manager
        self._types: dict[str, RegisteredType] = {}

    def add(self, cls: type[Any], plugin: str, distribution: str) -> None:
        """Record ``cls`` under its slug; a slug already taken raises ``DuplicateSlugError``."""
        self.kind.check(cls)
        slug = self.kind.slug_of(cls)
        existing = self._types.get(slug)
        if existing is not None and existing.cls is not cls:
            raise DuplicateSlugError(
                f"The {self.kind.describe} '{slug}' is registered by two plugins: "
                f"{existing.distribution} ({existing.cls.__module__}.{existing.cls.__qualname__}) and "
                f"{distribution} ({cls.__module__}.{cls.__qualname__}). Uninstall one of them."
            )
        self._types[slug] = RegisteredType(slug, cls, plugin, distribution)

    def get(self, slug: str) -> type[Any]:
        """The class registered under ``slug``; an unknown slug says which package to install."""
        found = self._types.get(slug)
        if found is not None:
            return found.cls
        known = ", ".join(sorted(self._types)) or "none"
        message = (
            f"Unknown {self.kind.describe} '{slug}': install it with `pip install {package_for_slug(slug)}` "
            f"(installed: {known})."
        )
        failed = self._manager.failures
        if failed:
            message += " Plugins that failed to load: " + "; ".join(
                f"{info.distribution} {info.version} ({info.error})" for info in failed
            )
        raise UnknownSlugError(message)

    def find(self, slug: str) -> type[Any] | None:
        """The class registered under ``slug``, or None."""
        found = self._types.get(slug)
        return found.cls if found else None

    def slugs(self) -> list[str]:
        """Every registered slug, sorted."""
        return sorted(self._types)

    def entries(self) -> list[RegisteredType]:
        """Every registered type with its plugin, sorted by slug."""
        return [self._types[slug] for slug in self.slugs()]

    def __contains__(self, slug: object) -> bool:
        return slug in self._types


class PluginManager:
    """Sluice's wrapper around a pluggy manager: plugins with their distributions, and registries."""

    def __init__(self, load_entry_points: bool = True, allow: str | None = None, trace: bool = False):
        self._pm = pluggy.PluginManager("sluice")
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry] = {}
        #: Registries of kinds without a hook, filled while their feeders' hooks are called.
        self._fed: dict[str, Registry] = {}
        self.trace = trace
        if load_entry_points:
            self.load_entry_points(allow)

    # -- loading ---------------------------------------------------------------------------------

    def load_entry_points(self, allow: str | None = None) -> None:
        """Load the plugins of the ``sluice`` entry-point group, keeping a record of failures.

        :param allow: comma-separated distribution names to load (``SLUICE_LOAD_PLUGINS``); an empty
            string loads none; None loads all.
        """
        allowed = None if allow is None else {normalise(n) for n in allow.split(",") if n.strip()}
        for entry_point in find_entry_points(ENTRY_POINT_GROUP):
            distribution, version = entry_point.distribution, entry_point.version
            if allowed is not None and normalise(distribution) not in allowed:
                continue
            if entry_point.name in self._infos:
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:  # a broken plugin must be reported, not crash every command
                error = f"{type(exc).__name__}: {exc}"
                self._infos[entry_point.name] = PluginInfo(entry_point.name, distribution, version, error=error)
                continue
            self.register(plugin, name=entry_point.name, distribution=distribution, version=version)

    def register(
        self, plugin: object, name: str | None = None, distribution: str | None = None, version: str = "0"
    ) -> None:
        """Register a plugin object (a module or an instance with hook implementations).

        Tests use this to add a small plugin class to a fresh manager.
        """
        with self._lock:
            name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
            self._pm.register(plugin, name=name)
            self._infos[name] = PluginInfo(name, distribution or name, version)
            self._registries.clear()
            self._fed.clear()

    @property
    def failures(self) -> list[PluginInfo]:
        """Plugins that were installed but failed to load, with their errors."""
        return [info for info in self._infos.values() if info.error]

    # -- hooks -----------------------------------------------------------------------------------

    def call_hook(self, hook_name: str, **kwargs: Any) -> None:
        """Call ``hook_name`` on every plugin that implements it, one plugin at a time.

        Each implementation gets the subset of ``kwargs`` it names. An exception is re-raised as a
        ``PluginError`` naming the plugin (``DuplicateSlugError`` is passed through as it is).
        """
        caller = getattr(self._pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            info = self._infos.get(impl.plugin_name)
            self._call_impl(impl, info, hook_name, kwargs)

    def _call_impl(self, impl: Any, info: PluginInfo | None, hook_name: str, kwargs: dict[str, Any]) -> None:
        args = {name: kwargs[name] for name in impl.argnames}
        label = f"{impl.plugin_name} ({info.distribution} {info.version})" if info else impl.plugin_name
        if self.trace:
            print(f"sluice: hook {hook_name}({', '.join(args)}) -> {label}", file=sys.stderr)
        try:
            impl.function(**args)
        except DuplicateSlugError:
            raise
        except Exception as exc:
            raise PluginError(f"Plugin {label} failed in {hook_name}: {type(exc).__name__}: {exc}") from exc

    def registry(self, kind: str) -> Registry:
        """The registry of one kind (``storage``, ``infrastructure``, ``supporting``, ``schedule``,
        ``queue_backend``), filled by calling its hook on first use.

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
        registry = Registry(spec, self)
        caller = getattr(self._pm.hook, spec.hook)
        for impl in reversed(caller.get_hookimpls()):
            info = self._infos.get(impl.plugin_name)
            distribution = info.distribution if info else impl.plugin_name

            def register(cls: type[Any], _plugin: str = impl.plugin_name, _dist: str = distribution) -> None:
                self._target(spec, registry, cls).add(cls, _plugin, _dist)

            try:
                self._call_impl(impl, info, spec.hook, {"register": register})
            except DuplicateSlugError:
                raise
            except PluginError as exc:
                # One broken plugin must not take every command down: record it, warn, go on.
                if info is not None:
                    info.error = str(exc)
                warnings.warn(str(exc), PluginLoadWarning, stacklevel=3)
        return registry

    # -- introspection ---------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin with the hooks it implements and the slugs it provides, failures included."""
        slugs_by_plugin: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for entry in self.registry(kind).entries():
                slugs_by_plugin.setdefault(entry.plugin, {}).setdefault(kind, []).append(entry.slug)
        result = []
        for name, info in sorted(self._infos.items()):
            if info.error is None:
                plugin = self._pm.get_plugin(name)
                callers = self._pm.get_hookcallers(plugin) or []
                info.hooks = sorted(caller.name for caller in callers)
                info.slugs = slugs_by_plugin.get(name, {})
            result.append(info)
        return result


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built on first call from the installed entry points.

    ``SLUICE_LOAD_PLUGINS`` limits which distributions load; ``SLUICE_TRACE_PLUGINS=1`` prints each
    hook call. A plugin that fails to import produces a ``PluginLoadWarning``.
    """
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                manager = PluginManager(
                    allow=os.environ.get("SLUICE_LOAD_PLUGINS"),
                    trace=os.environ.get("SLUICE_TRACE_PLUGINS", "").lower() in ("1", "true", "yes"),
                )
                for info in manager.failures:
                    warnings.warn(
                        f"Plugin {info.name!r} ({info.distribution} {info.version}) failed to load: "
                        f"{info.error}. See `sluice plugins ls`.",
                        PluginLoadWarning,
                        stacklevel=2,
                    )
                _manager = manager
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
