"""The kinds of pluggable types and their registries: how a class is checked, what its slug is, and
what happens when two plugins claim one slug (it is disabled, and both are named).

``sluice.plugins.PluginManager`` fills one ``Registry`` per kind by calling that kind's hook; this
module holds no plugin and imports none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice.errors import DuplicateSlugError, PluginError, UnknownSlugError

if TYPE_CHECKING:  # pragma: no cover
    from sluice.plugins import PluginManager


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


def _schedule_check(cls: type[Any]) -> None:
    """A ``Schedule`` subclass whose shorthands and untyped key are well formed."""
    from sluice.schedules import check_declarations

    _subclass_check("sluice.schedules", "Schedule")(cls)
    try:
        check_declarations(cls)
    except ValueError as exc:
        raise PluginError(str(exc)) from None


def _service_slug(cls: type[Any]) -> str:
    from sluice.services import Service

    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or name == Service.name:
        raise PluginError(f"{cls.__qualname__} must set its own 'name' class attribute (a unique service name)")
    return name


def _task_runner_check(cls: type[Any]) -> None:
    _subclass_check("sluice.task_runners", "TaskRunner")(cls)
    if not isinstance(cls.__dict__.get("slug"), str) or not cls.__dict__["slug"]:
        raise PluginError(f"{cls.__qualname__} must set its own 'slug' class attribute (a unique task runner name)")


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
        _schedule_check,
    ),
    "queue_backend": Kind(
        "queue_backend",
        "register_queue_backends",
        "queue backend",
        _queue_backend_slug,
        _queue_backend_check,
    ),
    "service": Kind(
        "service",
        "register_services",
        "service",
        _service_slug,
        _subclass_check("sluice.services", "Service"),
    ),
    "task_runner": Kind(
        "task_runner",
        "register_task_runners",
        "task runner",
        _queue_backend_slug,
        _task_runner_check,
    ),
}


@dataclass
class RegisteredType:
    """A type in a registry, with the plugin that gave it."""

    slug: str
    cls: type[Any]
    plugin: str
    distribution: str

    @property
    def origin(self) -> str:
        """``distribution (module.Class)``, as a clash names each claimant."""
        return f"{self.distribution} ({self.cls.__module__}.{self.cls.__qualname__})"


class Registry:
    """The types of one kind, by slug. A slug claimed by two plugins is disabled, not served."""

    def __init__(self, kind: Kind, manager: PluginManager) -> None:
        self.kind = kind
        self._manager = manager
        self._types: dict[str, RegisteredType] = {}
        #: Slugs claimed by more than one class, with every claimant: none of them is served.
        self._clashes: dict[str, list[RegisteredType]] = {}

    def check(self, cls: type[Any]) -> str:
        """The slug of ``cls``, or ``PluginError`` saying why it cannot be registered as this kind."""
        self.kind.check(cls)
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise PluginError(f"{cls.__qualname__} is abstract (it does not implement {missing})")
        return self.kind.slug_of(cls)

    def add(self, cls: type[Any], plugin: str, distribution: str) -> None:
        """Record ``cls`` under its slug; a slug another class has is disabled (see ``flag_clashes``)."""
        entry = RegisteredType(self.check(cls), cls, plugin, distribution)
        slug = entry.slug
        claimants = self._clashes.get(slug)
        existing = self._types.get(slug)
        if claimants is None and (existing is None or existing.cls is cls):
            self._types[slug] = entry
            return
        if claimants is None:
            claimants = self._clashes[slug] = [self._types.pop(slug)]
        claimants.append(entry)

    def flag_clashes(self) -> None:
        """Record on every plugin claiming a disabled slug which other plugins claim it too."""
        for slug, claimants in self._clashes.items():
            for claimant in claimants:
                others = ", ".join(other.origin for other in claimants if other is not claimant)
                self._manager.flag(
                    claimant.plugin,
                    f"the {self.kind.describe} '{slug}' is also registered by {others}; "
                    "the slug is disabled until one of them is uninstalled",
                )

    def clash(self, slug: str) -> DuplicateSlugError | None:
        """The error for a slug several plugins claim, or None."""
        claimants = self._clashes.get(slug)
        if not claimants:
            return None
        return DuplicateSlugError(
            f"The {self.kind.describe} '{slug}' is registered by {len(claimants)} plugins: "
            f"{' and '.join(claimant.origin for claimant in claimants)}. It is disabled: uninstall one "
            "of them (see `sluice plugins ls`)."
        )

    def get(self, slug: str) -> type[Any]:
        """The class registered under ``slug``; an unknown slug raises ``UnknownSlugError`` saying which
        kind is missing and what is installed, a slug two plugins claim ``DuplicateSlugError`` naming both."""
        found = self.find(slug)
        if found is not None:
            return found
        from sluice.plugins import unknown_slug_message

        raise UnknownSlugError(unknown_slug_message((self.kind.name,), slug, self._manager))

    def find(self, slug: str) -> type[Any] | None:
        """The class registered under ``slug``, or None; a slug two plugins claim raises
        ``DuplicateSlugError`` naming both."""
        found = self._types.get(slug)
        if found is not None:
            return found.cls
        clash = self.clash(slug)
        if clash is not None:
            raise clash
        return None

    def slugs(self) -> list[str]:
        """Every slug in service, sorted (a disabled one is left out)."""
        return sorted(self._types)

    def entries(self) -> list[RegisteredType]:
        """Every type in service with its plugin, sorted by slug."""
        return [self._types[slug] for slug in self.slugs()]

    def __contains__(self, slug: object) -> bool:
        return slug in self._types
