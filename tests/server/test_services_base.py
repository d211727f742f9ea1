"""Background services (sluice/services.py, server/services/base.py), registered through
``register_services``, and the app's lifespan that runs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from sluice.hookspecs import hookimpl
from sluice.plugins import PluginManager, use_plugin_manager
from sluice.server.services.base import DatabaseService, ServiceRunner
from sluice.services import Service


class Counter(DatabaseService):
    """Counts its rounds; the third one sets ``done``; the first one fails."""

    name: ClassVar[str] = "counter"
    loop_seconds: ClassVar[float] = 0.001
    instances: ClassVar[list[Counter]] = []

    def __init__(self, database, settings):
        super().__init__(database, settings)
        self.rounds = 0
        self.done = asyncio.Event()
        Counter.instances.append(self)

    async def run_once(self) -> None:
        self.rounds += 1
        if self.rounds == 1:
            raise RuntimeError("a failing round must not stop the service")
        if self.rounds >= 3:
            self.done.set()


def test_a_service_loops_survives_errors_and_stops(settings):
    async def scenario() -> Counter:
        service = Counter(None, settings)
        runner = ServiceRunner([service])
        runner.start()
        await asyncio.wait_for(service.done.wait(), timeout=30)
        await runner.stop()
        return service

    service = asyncio.run(scenario())
    assert service.rounds >= 3
    assert service._task is None


def services_plugin(*classes: type[Any]) -> object:
    """A plugin registering ``classes`` through ``register_services``."""

    class ServicesPlugin:
        @hookimpl
        def register_services(self, register):  # type: ignore[no-untyped-def]
            for cls in classes:
                register(cls)

    return ServicesPlugin()


@pytest.fixture
def services_only() -> Iterator[PluginManager]:
    """A plugin manager without the core's services, in force for the test."""
    manager = PluginManager(load_entry_points=False, builtins=False)
    with use_plugin_manager(manager):
        yield manager


def test_the_core_services_come_from_the_built_in_plugin() -> None:
    entries = PluginManager(load_entry_points=False).registry("service").entries()
    assert [(entry.slug, entry.plugin, entry.distribution) for entry in entries] == [
        ("crash_detection", "core-services", "sluice"),
        ("late_runs", "core-services", "sluice"),
        ("scheduler", "core-services", "sluice"),
    ]


def test_the_app_lifespan_runs_registered_services(settings, services_only):
    from sluice.server.app import create_app

    services_only.register(services_plugin(Counter), name="counter", distribution="sluice-counter")
    Counter.instances.clear()
    app = create_app(settings, run_services=True)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            (service,) = Counter.instances
            await asyncio.wait_for(service.done.wait(), timeout=30)
        assert service._task is None

    asyncio.run(scenario())


def test_services_do_not_run_when_disabled(settings, services_only):
    from sluice.server.app import create_app

    services_only.register(services_plugin(Counter), name="counter", distribution="sluice-counter")
    Counter.instances.clear()
    app = create_app(settings, run_services=False)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(scenario())
    assert Counter.instances == []


@pytest.mark.parametrize("enabled", [True, False])
def test_enabled_decides_whether_a_service_runs(settings, services_only, enabled):
    class Optional(Counter):
        name: ClassVar[str] = "optional"

        @classmethod
        def enabled(cls, settings) -> bool:
            return enabled

    services_only.register(services_plugin(Optional), name="optional", distribution="sluice-optional")
    runner = ServiceRunner.from_registry(None, settings)
    assert len(runner.services) == (1 if enabled else 0)


class Unbuildable(Counter):
    """A service whose constructor raises."""

    name: ClassVar[str] = "unbuildable"

    def __init__(self, database, settings):
        raise RuntimeError("cannot be built")


def test_a_service_that_raises_when_built_is_logged_and_the_others_run(settings, services_only, caplog):
    services_only.register(services_plugin(Unbuildable, Counter), name="mixed", distribution="sluice-mixed")
    with caplog.at_level(logging.ERROR, logger="sluice.server.services"):
        runner = ServiceRunner.from_registry(None, settings)
    assert [service.name for service in runner.services] == ["counter"]
    assert "service unbuildable (from sluice-mixed) could not be started" in caplog.text
    assert "RuntimeError: cannot be built" in caplog.text


class Nameless(Service):
    """A service that forgot its name."""

    async def run_once(self) -> None:
        pass


class Unfinished(Service):
    """A service without ``run_once``."""

    name: ClassVar[str] = "unfinished"


class NotAService:
    name = "not-a-service"


def test_a_service_class_is_checked_at_registration(services_only):
    services_only.register(
        services_plugin(Nameless, Unfinished, NotAService, Counter), name="sloppy", distribution="sluice-sloppy"
    )
    with pytest.warns(UserWarning):
        assert services_only.registry("service").slugs() == ["counter"]
    [info] = [info for info in services_only.plugins() if info.name == "sloppy"]
    assert "Nameless must set its own 'name'" in (info.error or "")
    assert "Unfinished is abstract (it does not implement run_once)" in (info.error or "")
    assert "is not a subclass of sluice.services.Service" in (info.error or "")


def test_two_services_with_one_name_are_both_disabled(services_only):
    class OtherCounter(Counter):
        pass

    class Lonely(Counter):
        name: ClassVar[str] = "lonely"

    services_only.register(services_plugin(Counter), name="one", distribution="sluice-one")
    services_only.register(services_plugin(OtherCounter, Lonely), name="two", distribution="sluice-two")
    with pytest.warns(UserWarning, match=r"the service 'counter' is also registered by"):
        assert services_only.registry("service").slugs() == ["lonely"]


def test_a_plugin_raising_in_register_services_leaves_the_other_services(services_only):
    class FailingPlugin:
        @hookimpl
        def register_services(self, register):  # type: ignore[no-untyped-def]
            raise RuntimeError("services boom")

    services_only.register(FailingPlugin(), name="failing", distribution="sluice-failing")
    services_only.register(services_plugin(Counter), name="counter", distribution="sluice-counter")
    with pytest.warns(UserWarning, match=r"register_services raised RuntimeError: services boom"):
        assert services_only.registry("service").slugs() == ["counter"]


class FlowCounter(Service):
    """A third party's service: public base only, the data through ``self.client()``."""

    name: ClassVar[str] = "flow-counter"
    loop_seconds: ClassVar[float] = 0.01
    instances: ClassVar[list[FlowCounter]] = []

    def __init__(self, settings):
        super().__init__(settings)
        self.counted = asyncio.Event()
        self.flows: list[str] = []
        FlowCounter.instances.append(self)

    async def run_once(self) -> None:
        self.flows = await asyncio.to_thread(self.flow_names)
        self.counted.set()

    def flow_names(self) -> list[str]:
        with self.client() as client:
            return sorted(flow.name for flow in client.filter_flows())


def test_a_service_on_the_public_base_reads_the_server_s_data_through_its_client(settings, services_only, monkeypatch):
    from sluice.client import SluiceClient
    from sluice.server.app import create_app

    # An API URL in the server's environment must not send the service elsewhere.
    monkeypatch.setenv("SLUICE_API_URL", "http://127.0.0.1:9/api")
    services_only.register(services_plugin(FlowCounter), name="flow-counter", distribution="acme-flow-counter")
    FlowCounter.instances.clear()
    app = create_app(settings, run_services=True)

    async def scenario() -> FlowCounter:
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(lambda: SluiceClient(settings=settings).create_flow("etl"))
            (service,) = FlowCounter.instances
            deadline = asyncio.get_running_loop().time() + 30
            while service.flows != ["etl"]:  # a round that began before the flow existed may end first
                assert asyncio.get_running_loop().time() < deadline, "the service never saw the flow"
                service.counted.clear()
                await asyncio.wait_for(service.counted.wait(), timeout=30)
            return service

    service = asyncio.run(scenario())
    assert service.flows == ["etl"]
