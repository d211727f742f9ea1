"""The hooks a Sluice plugin can implement.

A plugin is a module (or class) named by an entry point in the ``sluice`` group. It implements any
of the hooks below by defining a function of the same name decorated with ``sluice.hookimpl``; it
may accept any subset of a hook's arguments. Arguments are only ever added to a hook, never removed
or renamed, so a plugin written today keeps working.

Every hook is called once per process, when the plugin manager is first needed (the CLI builds its
command tree, the API server builds its app, or a registry is asked for a type). Plugins are called
in the reverse of their registration order, as pluggy does; the order does not matter for the type
hooks, because a slug may be claimed by one plugin only.

A hook implementation that raises does not stop Sluice: the plugin is listed as broken by ``sluice
plugins ls``, a warning says so, and whatever that implementation added (classes, commands, routes)
is taken back. Mark an implementation of a hook that only newer Sluice versions have with
``@hookimpl(optionalhook=True)``; any other unknown hook name is reported as a typo.

``docs/plugins.md`` documents each hook under its exact signature; ``tests/core/test_docs.py`` keeps
the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import fastapi
    import typer

hookspec = pluggy.HookspecMarker("sluice")
hookimpl = pluggy.HookimplMarker("sluice")

Register = Callable[[type[Any]], None]


@hookspec
def register_storage_blocks(register: Register) -> None:
    """Register storage block types: where a deployment's code is kept.

    :param register: call it once per class, ``register(cls)``; ``cls`` must subclass
        ``sluice.storage.StorageBlock`` (``sluice.storage.FsspecStorageBlock`` does the work for an
        fsspec file system) and define a unique ``block_type_slug``. A plain ``sluice.storage.Block``
        subclass (a login the storage uses) is accepted too and registered as a *supporting* block
        type: saveable and referenced by ``type/name``.
    :returns: nothing; the return value is ignored.

    Called once, the first time any storage type is looked up. An invalid class (not a
    ``StorageBlock``, abstract, without a slug) is refused alone and the plugin reported; a slug
    that another plugin registers too is disabled, and looking it up raises ``DuplicateSlugError``
    naming both distributions.
    """


@hookspec
def register_infrastructure_blocks(register: Register) -> None:
    """Register infrastructure block types: where and how a flow run is started.

    :param register: call it once per class, ``register(cls)``; ``cls`` must subclass
        ``sluice.infrastructure.InfrastructureBlock`` (``SubprocessInfrastructure`` is a ready base
        for a local process) and define a unique ``block_type_slug``. A plain
        ``sluice.infrastructure.Block`` subclass (a registry login, a cluster config) is accepted too
        and registered as a *supporting* block type: saveable and referenced by ``type/name``.
    :returns: nothing; the return value is ignored.

    Called once, the first time any infrastructure type is looked up.
    """


@hookspec
def register_schedules(register: Register) -> None:
    """Register schedule types: when a deployment's runs are created.

    :param register: call it once per class, ``register(cls)``; ``cls`` must subclass
        ``sluice.schedules.Schedule`` and declare ``type: Literal["<slug>"] = "<slug>"``; its
        ``shorthands`` (command-line options) and ``untyped_key`` are checked too.
    :returns: nothing; the return value is ignored.

    Called once, the first time any schedule type is looked up (for example by
    ``schedule_from_dict``).
    """


@hookspec
def register_queue_backends(register: Register) -> None:
    """Register work-queue backends: how agents claim runs.

    :param register: call it once per class, ``register(cls)``; ``cls`` must implement
        ``sluice.queues.QueueBackend`` (``claim_runs``, ``work_version``, ``wait_for_work``,
        ``close``; built as ``cls(store, settings)`` with a ``sluice.queues.QueueStore``) and define
        a unique ``slug``.
    :returns: nothing; the return value is ignored.

    Called once, the first time the API server needs a queue backend (``SLUICE_QUEUE_BACKEND``).
    """


@hookspec
def register_services(register: Register) -> None:
    """Register background services of the API server: loops such as the scheduler.

    :param register: call it once per class, ``register(cls)``; ``cls`` must subclass
        ``sluice.services.Service``, set a unique ``name`` and ``loop_seconds``, and implement
        ``async run_once()``. It is built as ``cls(settings)`` when the server starts and reaches the
        server's data through ``self.client()``.
    :returns: nothing; the return value is ignored.

    Called once, the first time the services are needed: ``sluice server start`` (unless
    ``--no-services``), ``sluice server services``, ``sluice plugins ls``. The core's own services
    (scheduler, late runs, crash detection) come through this hook too, from a built-in plugin. A
    service that fails to be built, or raises in a round, is logged; the other services run on.
    """


@hookspec
def register_task_runners(register: Register) -> None:
    """Register task runners: where the tasks a flow submits (``task.submit()``) run.

    :param register: call it once per class, ``register(cls)``; ``cls`` must subclass
        ``sluice.task_runners.TaskRunner``, implement ``submit(attempt)`` and define a unique ``slug``
        (what ``@flow(task_runner="<slug>")`` names). It is built as ``cls()`` when named by its slug.
    :returns: nothing; the return value is ignored.

    Called once, the first time a task runner is looked up by slug. The core's own runners
    (``threads``, ``sequential``) come through this hook too, from the built-in plugin. The flow's
    engine records task runs and their states itself: a runner only runs ``TaskAttempt`` objects
    (picklable callables) and returns futures of their outcomes, so it never needs API access.
    """


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands or command groups to the ``sluice`` CLI.

    :param app: the root Typer application; call ``app.add_typer(group, name=...)`` or
        ``app.command()(function)`` on it. A name the CLI already has is refused.
    :returns: nothing; the return value is ignored.

    Called each time the CLI is built, before arguments are parsed, so it runs on every ``sluice``
    invocation, ``--help`` included: import heavy libraries inside the command functions, not at
    module level. If the implementation raises, or adds a command Typer cannot build, none of its
    commands are added.
    """


@hookspec
def register_routes(app: fastapi.FastAPI) -> None:
    """Add routes to the API server: pages, static files, extra API endpoints.

    :param app: the FastAPI application being built by ``create_app``; call
        ``app.include_router(...)`` or ``app.mount(...)``. Paths under ``/api`` belong to the core.
        With ``SLUICE_API_KEY`` set, every route added here needs the key unless marked with
        ``sluice.routes.public``; ``sluice.routes.add_authenticator`` lets another proof in (the
        UI's login session).
    :returns: nothing; the return value is ignored.

    Called once per application built by ``create_app``, after the core routers are included; not
    for the embedded client's in-process app, which serves the core ``/api`` only. If the
    implementation raises, the routes, mounts, exception handlers and authenticators it added are
    removed and the server starts without them.
    """
