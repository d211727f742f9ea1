"""Property test of the whole API (server/app.py): schemathesis generates requests from the OpenAPI
schema; no answer may be a 5xx or break the schema the API publishes for it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

#: Examples per database; a few hundred in all keeps the test well under two minutes.
MAX_EXAMPLES = int(__import__("os").environ.get("SLUICE_SCHEMATHESIS_EXAMPLES", "150"))


def test_no_request_makes_the_api_fail_or_break_its_schema(app, client):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import response_schema_conformance

    # Some stored objects, so that generated requests also meet existing names.
    flow = client.create_flow("etl")
    client.create_deployment("nightly", flow.id, parameters={"rows": 1})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    strategy = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case):
        if isinstance(case.body, dict) and "wait_seconds" in case.body:
            case.body["wait_seconds"] = 0  # a long poll would only test the clock (and the timeout)
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    check()
