"""Inserting many new flow runs with their first state-history rows, fast, skipping taken keys.

``insert_new_runs(session, runs)`` returns the ids of the runs it inserted; a run whose
(flow, idempotency key) exists already is skipped, also when another transaction inserts it
concurrently. It is the scheduler's hot path (a loop over 10,000 new deployments writes a million
runs), so each database gets its fastest safe way:

- PostgreSQL: ``COPY`` into a temporary table, then one statement that inserts the runs with
  ``ON CONFLICT DO NOTHING`` and the history rows of exactly those it inserted. Rows go in key
  order, so two writers of overlapping keys (a scheduler and a backfill) cannot deadlock.
- SQLite: the write transaction (``BEGIN IMMEDIATE``) keeps every other writer out, so the keys
  found free at the start stay free; the rest go in with the driver's ``executemany``.

Both bypass the ORM session's statement events, so the new runs are announced to the database's
change feed explicitly (``announce_runs``): after the commit it wakes the agents waiting for work.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import JSON, select
from sqlalchemy.orm import Session

from sluice.server.database.change_feed import announce_runs
from sluice.server.database.tables import FlowRunStateTable, FlowRunTable
from sluice.server.database.types import UTCDateTime

_RUNS = FlowRunTable.__table__
_STATES = FlowRunStateTable.__table__
_RUN_COLUMNS = [column.name for column in _RUNS.columns]
_STATE_COLUMNS = [column.name for column in _STATES.columns]
#: Where each history column comes from, in the statement that inserts the runs (PostgreSQL).
_HISTORY_SOURCES = {
    "id": "gen_random_uuid()",
    "created": "created",
    "updated": "updated",
    "flow_run_id": "id",
    "type": "state_type",
    "name": "state_name",
    "timestamp": "state_timestamp",
    "message": "state_message",
    "scheduled_time": "next_scheduled_start_time",
}


def insert_new_runs(session: Session, runs: Sequence[dict[str, Any]]) -> list[UUID]:
    """Insert ``runs`` (complete flow-run column values, SCHEDULED) and one history row for each run
    inserted; return the inserted runs' ids. The caller commits."""
    if not runs:
        return []
    if session.get_bind().dialect.name == "postgresql":
        inserted = _insert_postgres(session, runs)
    else:
        inserted = _insert_sqlite(session, runs)
    if inserted:
        announce_runs(session, inserted)
    return inserted


def first_state(run: dict[str, Any]) -> dict[str, Any]:
    """The state-history row of a new run's current state."""
    return {
        "id": uuid4(),
        "flow_run_id": run["id"],
        "type": run["state_type"],
        "name": run["state_name"],
        "timestamp": run["state_timestamp"],
        "message": run["state_message"],
        "scheduled_time": run["next_scheduled_start_time"],
        "created": run["created"],
        "updated": run["updated"],
    }


def _insert_postgres(session: Session, runs: Sequence[dict[str, Any]]) -> list[UUID]:
    from psycopg.types.json import Jsonb

    json_columns = {"parameters", "tags"}
    columns = ", ".join(f'"{name}"' for name in _RUN_COLUMNS)
    history = ", ".join(f'"{name}"' for name in _STATE_COLUMNS)
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS sluice_new_flow_run (LIKE flow_run) ON COMMIT DROP")
        with cursor.copy(f"COPY sluice_new_flow_run ({columns}) FROM STDIN") as copy:
            for run in runs:
                copy.write_row([Jsonb(run[name]) if name in json_columns else run[name] for name in _RUN_COLUMNS])
        cursor.execute(
            f"""
            WITH inserted AS (
                INSERT INTO flow_run ({columns})
                SELECT {columns} FROM sluice_new_flow_run ORDER BY flow_id, idempotency_key
                ON CONFLICT (flow_id, idempotency_key) DO NOTHING
                RETURNING {", ".join(source for source in _HISTORY_SOURCES.values() if source.isidentifier())}
            )
            INSERT INTO flow_run_state ({history})
            SELECT {", ".join(_HISTORY_SOURCES[name] for name in _STATE_COLUMNS)} FROM inserted
            RETURNING flow_run_id
            """
        )
        inserted = [row[0] for row in cursor.fetchall()]
        cursor.execute("TRUNCATE sluice_new_flow_run")
    return inserted


def _insert_sqlite(session: Session, runs: Sequence[dict[str, Any]]) -> list[UUID]:
    taken = _taken_keys(session, runs)
    fresh: list[dict[str, Any]] = []
    for run in runs:
        key = (run["flow_id"], run["idempotency_key"])
        if key not in taken:
            taken.add(key)
            fresh.append(run)
    if fresh:
        _executemany(session, _RUNS, _RUN_COLUMNS, fresh)
        _executemany(session, _STATES, _STATE_COLUMNS, [first_state(run) for run in fresh])
    return [run["id"] for run in fresh]


def _taken_keys(session: Session, runs: Sequence[dict[str, Any]]) -> set[tuple[UUID, str]]:
    """The (flow, key) pairs of ``runs`` that a stored run holds: by flow, so that the unique index on
    (flow_id, idempotency_key) answers each lookup."""
    keys_by_flow: dict[UUID, set[str]] = {}
    for run in runs:
        keys_by_flow.setdefault(run["flow_id"], set()).add(run["idempotency_key"])
    taken: set[tuple[UUID, str]] = set()
    for flow_id, flow_keys in keys_by_flow.items():
        keys = sorted(flow_keys)
        for offset in range(0, len(keys), 500):
            query = select(FlowRunTable.idempotency_key).where(
                FlowRunTable.flow_id == flow_id, FlowRunTable.idempotency_key.in_(keys[offset : offset + 500])
            )
            taken.update((flow_id, key) for key in session.scalars(query))
    return taken


def _executemany(session: Session, table: Any, names: list[str], rows: Sequence[dict[str, Any]]) -> None:
    """``executemany`` on the driver, with each value converted by its column type as SQLAlchemy would."""
    connection = session.connection()
    dialect = connection.dialect
    converters = []
    for name in names:
        column_type = table.c[name].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and isinstance(column_type, UTCDateTime | JSON):
            process = _memoized(process)  # the same few timestamps and JSON values repeat on every row
        converters.append((name, process))
    placeholders = ", ".join("?" for _ in names)
    statement = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({placeholders})'
    values = [
        tuple(row[name] if process is None else process(row[name]) for name, process in converters) for row in rows
    ]
    connection.exec_driver_sql(statement, values)


def _memoized(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its results: by type and value for hashable values (equal instants
    give equal UTC text), by identity for others (the cache holds the value, so while it lives that
    id is never reused)."""
    cache: dict[Any, tuple[Any, Any]] = {}

    def convert(value: Any) -> Any:
        key = (type(value), value) if isinstance(value, Hashable) else id(value)
        found = cache.get(key)
        if found is None:
            found = cache[key] = (value, process(value))
        return found[1]

    return convert
