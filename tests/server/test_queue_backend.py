"""How the server makes its queue backend (server/queue_backend.py): ``cls(store, settings)`` with the
database's queue store; a backend written for the old ``cls(database, settings)`` gets a clear error."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pytest

import sluice_queue_sql
from sluice.hookspecs import hookimpl


class OldStyleBackend:
    """A backend as the first interface asked for them: handed the database itself."""

    slug: ClassVar[str] = "old-style"

    def __init__(self, database: Any, settings: Any = None) -> None:
        self.database = database

    def claim_runs(self, request: Any, build_answer: Any = None) -> list[Any]:
        return []

    def work_version(self) -> int:
        return 0

    async def wait_for_work(self, request: Any, timeout: float, since: int | None = None) -> None:
        return None

    def close(self) -> None:
        return None


class OldStylePlugin:
    @hookimpl
    def register_queue_backends(self, register: Any) -> None:
        register(OldStyleBackend)


@pytest.fixture
def settings(settings: Any) -> Any:
    """The server suite's settings with the backend the test registers."""
    return settings.model_copy(update={"queue_backend": "old-style"})


def test_a_backend_written_for_the_database_interface_is_refused_with_how_to_fix_it(
    sluice_plugin_manager: Any, settings: Any
) -> None:
    from sluice.server.app import create_app

    sluice_plugin_manager.register(OldStylePlugin(), name="old-style")
    app = create_app(settings, run_services=False)  # the server still starts
    assert app.state.queue_backend is None
    import httpx

    from sluice.embedded import EmbeddedTransport

    with httpx.Client(transport=EmbeddedTransport(app, timeout=60), base_url="http://test") as api:
        answer = api.post("/api/work_queues/claim", json={"queues": ["q"], "agent_id": str(uuid.uuid4())})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "old interface, cls(database, settings)" in detail
    assert "cls(store, settings)" in detail and "sluice.queues.QueueBackend" in detail


def test_the_backend_is_made_with_the_databases_queue_store(sluice_plugin_manager: Any, settings: Any) -> None:
    from sluice.server.app import create_app
    from sluice.server.queue_store import DatabaseQueueStore

    sluice_plugin_manager.register(sluice_queue_sql, name="sql", distribution="sluice-queue-sql")
    app = create_app(settings.model_copy(update={"queue_backend": "sql"}), run_services=False)
    assert isinstance(app.state.queue_store, DatabaseQueueStore)
    assert app.state.queue_backend.store is app.state.queue_store
    assert app.state.queue_store.database is app.state.database


@pytest.mark.parametrize("package", ["queue_sql/src/sluice_queue_sql", "queue_redis/src/sluice_queue_redis"])
def test_the_first_party_queue_backends_import_only_the_public_interface(package: str) -> None:
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "plugins" / package
    imported: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    from_sluice = {name for name in imported if name == "sluice" or name.startswith("sluice.")}
    assert from_sluice <= {"sluice.queues", "sluice.hookspecs"}, from_sluice
