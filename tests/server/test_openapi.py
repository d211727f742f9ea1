"""Property test of the whole API (server/app.py): schemathesis generates requests for every
operation of the OpenAPI schema, valid and invalid ones; no answer may be a 5xx, carry a status code
the schema does not document for the operation, or break the schema it documents.

Runs on SQLite and PostgreSQL, a bounded number of examples per operation
(``SLUICE_SCHEMATHESIS_EXAMPLES``, default 12: about 1,000 requests in all per database).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import sluice_queue_sql

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = int(os.environ.get("SLUICE_SCHEMATHESIS_EXAMPLES", "12"))


@pytest.fixture(autouse=True)
def _sql_backend(sluice_plugin_manager: Any) -> None:
    """The queue backend plugin, so that claims are tried for real."""
    sluice_plugin_manager.register(sluice_queue_sql, name="sql", distribution="sluice-queue-sql")


def test_no_request_makes_the_api_fail_or_answer_outside_its_schema(app, client):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    # Some stored objects, so that generated requests also meet existing names.
    flow = client.create_flow("etl")
    client.create_deployment("nightly", flow.id, parameters={"rows": 1}, infra_overrides={"env.API_KEY": "k"})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []

    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case):
            if isinstance(case.body, dict) and "wait_seconds" in case.body:
                case.body["wait_seconds"] = 0  # a long poll would only test the clock (and the timeout)
            case.call_and_validate(checks=checks)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; failures are reported together
            failures.append(f"{operation.label}: {str(exc).strip()[:2000]}")

    assert len(operations) > 40
    assert not failures, "\n\n".join(failures)
