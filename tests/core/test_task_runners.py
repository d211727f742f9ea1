"""Task runners as a plugin kind: registration, slugs, checks; the built-in runners."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

from sluice import flow, task
from sluice.errors import ConfigurationError
from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager
from sluice.task_runners import (
    AttemptOutcome,
    SequentialTaskRunner,
    TaskAttempt,
    TaskRunner,
    ThreadPoolTaskRunner,
    resolve_task_runner,
)


class InlineRunner(TaskRunner):
    """Runs each attempt at once and counts them."""

    slug = "inline"
    submitted: list[str] = []

    def submit(self, attempt: TaskAttempt) -> concurrent.futures.Future[AttemptOutcome]:
        InlineRunner.submitted.append(attempt.task_run_name)
        future: concurrent.futures.Future[AttemptOutcome] = concurrent.futures.Future()
        future.set_result(attempt())
        return future


class InheritsTheSlug(ThreadPoolTaskRunner):
    """Forgets to set a slug of its own."""


class NotARunner:
    slug = "nope"


class RunnerPlugin:
    @hookimpl
    def register_task_runners(self, register: Any) -> None:
        register(InlineRunner)


class BadRunnersPlugin:
    @hookimpl
    def register_task_runners(self, register: Any) -> None:
        register(InheritsTheSlug)
        register(NotARunner)


def test_a_plugin_runner_is_found_by_its_slug_and_runs_the_flows_tasks(sluice_plugin_manager: PluginManager) -> None:
    sluice_plugin_manager.register(RunnerPlugin(), name="inline", distribution="sluice-inline")
    InlineRunner.submitted.clear()

    @task
    def one() -> int:
        return 1

    @flow(task_runner="inline")
    def uses_plugin_runner() -> int:
        return one.submit().result() + one.submit().result()

    assert uses_plugin_runner() == 2
    assert InlineRunner.submitted == ["one-0", "one-1"]


def test_the_core_runners_come_from_the_built_in_plugin(sluice_plugin_manager: PluginManager) -> None:
    entries = {entry.slug: entry for entry in sluice_plugin_manager.registry("task_runner").entries()}
    assert (entries["threads"].cls, entries["threads"].plugin) == (ThreadPoolTaskRunner, "core-services")
    assert entries["sequential"].cls is SequentialTaskRunner


def test_a_runner_without_its_own_slug_or_of_the_wrong_kind_is_refused(sluice_plugin_manager: PluginManager) -> None:
    info = sluice_plugin_manager.register(BadRunnersPlugin(), name="bad", distribution="sluice-bad")
    with pytest.warns(UserWarning, match=r"sluice-bad.*refused"):
        sluice_plugin_manager.registry("task_runner")
    assert "must set its own 'slug'" in (info.error or "")
    assert "is not a subclass of sluice.task_runners.TaskRunner" in (info.error or "")
    assert sluice_plugin_manager.registry("task_runner").slugs() == ["sequential", "threads"]


def test_resolving_a_runner_accepts_an_instance_a_class_a_slug_or_nothing() -> None:
    runner = SequentialTaskRunner()
    assert resolve_task_runner(runner) is runner
    assert isinstance(resolve_task_runner(SequentialTaskRunner), SequentialTaskRunner)
    assert isinstance(resolve_task_runner("sequential"), SequentialTaskRunner)
    assert isinstance(resolve_task_runner(None), ThreadPoolTaskRunner)
    with pytest.raises(ConfigurationError, match="task_runner must be a TaskRunner"):
        resolve_task_runner(3.5)  # type: ignore[arg-type]


def test_a_thread_pool_of_no_workers_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_workers must be at least 1, got 0"):
        ThreadPoolTaskRunner(max_workers=0)


def test_a_runner_given_to_a_flow_is_copied_for_each_run() -> None:
    given = ThreadPoolTaskRunner(max_workers=2)
    seen: list[Any] = []

    @flow(task_runner=given)
    def copies() -> None:
        from sluice.context import get_flow_run_context

        seen.append(get_flow_run_context().task_runner)

    copies()
    copies()
    assert len({id(runner) for runner in seen}) == 2 and given not in seen
    assert all(runner.max_workers == 2 for runner in seen)
    assert given._pool is None  # never started itself


def test_an_attempt_pickled_for_another_process_keeps_no_engine_context() -> None:
    import contextvars
    import pickle
    import uuid

    attempt = TaskAttempt(
        fn=len,
        args=("abc",),
        kwargs={},
        task_run_id=uuid.uuid4(),
        task_run_name="len-0",
        task_name="len",
        attempt=1,
        flow_run_id=uuid.uuid4(),
        flow_run_name="run",
        flow_name="flow",
        context=contextvars.copy_context(),
        on_start=print,
    )
    copy = pickle.loads(pickle.dumps(attempt))
    assert copy.context is None and copy.on_start is None
    outcome = copy()
    assert outcome.ok and outcome.result == 3 and not outcome.start_reported
    assert outcome.started <= outcome.ended
