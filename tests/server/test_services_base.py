"""Background services (server/services/base.py) and the app's lifespan that runs them."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from sluice.server.services import base
from sluice.server.services.base import Service, ServiceRunner


class Counter(Service):
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


def test_the_app_lifespan_runs_registered_services(settings, sluice_plugin_manager, monkeypatch):
    from sluice.server.app import create_app

    monkeypatch.setattr(base, "CORE_SERVICES", [])
    monkeypatch.setattr(base, "_registered", [])
    base.register_service(Counter)
    Counter.instances.clear()
    app = create_app(settings, run_services=True)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            (service,) = Counter.instances
            await asyncio.wait_for(service.done.wait(), timeout=30)
        assert service._task is None

    asyncio.run(scenario())


def test_services_do_not_run_when_disabled(settings, sluice_plugin_manager, monkeypatch):
    from sluice.server.app import create_app

    monkeypatch.setattr(base, "CORE_SERVICES", [])
    monkeypatch.setattr(base, "_registered", [Counter])
    Counter.instances.clear()
    app = create_app(settings, run_services=False)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(scenario())
    assert Counter.instances == []


@pytest.mark.parametrize("enabled", [True, False])
def test_enabled_decides_whether_a_service_runs(settings, monkeypatch, enabled):
    class Optional(Counter):
        @classmethod
        def enabled(cls, settings) -> bool:
            return enabled

    monkeypatch.setattr(base, "CORE_SERVICES", [])
    monkeypatch.setattr(base, "_registered", [Optional])
    runner = ServiceRunner.from_registry(None, settings)
    assert len(runner.services) == (1 if enabled else 0)
