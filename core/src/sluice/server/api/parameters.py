"""Checking flow-run parameters: their size, and against a deployment's parameter schema (JSON Schema)."""

from __future__ import annotations

import json
from typing import Any

from sluice.errors import ConfigurationError, PayloadTooLarge


def check_parameters_size(parameters: dict[str, Any] | None, limit: int, where: str) -> None:
    """Refuse ``parameters`` larger than ``limit`` bytes as compact UTF-8 JSON (``PayloadTooLarge``, a 413).

    Every copy of a deployment's parameters goes into each of its runs' rows, and an agent hands
    them to the flow on its command line or environment: large data belongs in a file or a block.
    """
    if not parameters:
        return
    size = len(json.dumps(parameters, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise PayloadTooLarge(
            f"the parameters of {where} are {size} bytes as JSON, more than the server's limit of {limit} "
            "(SLUICE_SERVER_MAX_PARAMETERS_BYTES); pass large data by reference, e.g. a path in storage"
        )


def check_parameter_schema(schema: dict[str, Any] | None) -> None:
    """Refuse a parameter schema that is not valid JSON Schema (``ConfigurationError``, a 422)."""
    if not schema:
        return
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise ConfigurationError(f"parameter_openapi_schema is not a valid JSON schema: {exc.message}") from None
    except Exception as exc:  # pathological schemas (deep nesting, odd $schema) must not become a 500
        raise ConfigurationError(f"parameter_openapi_schema cannot be used: {type(exc).__name__}") from None


def validate_parameters(parameters: dict[str, Any], schema: dict[str, Any] | None, where: str) -> None:
    """Check ``parameters`` against ``schema``; every problem is named in one ``ConfigurationError``."""
    if not schema:
        return
    from jsonschema import validators

    try:
        validator = validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(parameters), key=lambda error: list(error.absolute_path))
        problems = [_describe(error) for error in errors]
    except Exception as exc:  # an unresolvable $ref or a recursive schema: the schema is at fault
        raise ConfigurationError(f"the parameter schema of {where} cannot be applied: {type(exc).__name__}") from None
    if problems:
        raise ConfigurationError(f"invalid parameters for {where}: " + "; ".join(problems))


def _describe(error: Any) -> str:
    path = list(error.absolute_path)
    if error.validator == "required" and not path:
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        return "; ".join(f"missing required parameter {name!r}" for name in missing) or error.message
    if path:
        location = str(path[0]) + "".join(f"[{part!r}]" for part in path[1:])
        return f"parameter {location!r}: {error.message}"
    return error.message
