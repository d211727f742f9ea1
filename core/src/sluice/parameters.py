"""Flow parameters: the JSON schema of a signature, and validation of the values a run is given.

``parameter_schema(fn)`` returns what Prefect 2 stores as a deployment's
``parameter_openapi_schema``::

    {"title": "Parameters", "type": "object",
     "properties": {"name": {"title": "name", "default": "Marvin", "position": 0, "type": "string",
                             "description": "Who to greet."}},
     "required": [], "definitions": {}}

``validate_parameters(fn, values)`` checks and coerces ``values`` against the same signature before a
flow body starts; an error names every parameter at fault.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from sluice.errors import ParameterError

_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD

#: The key that marks the schema property of a ``*items`` (``"positional"``) or ``**options``
#: (``"keyword"``) parameter, whatever its name. JSON Schema ignores unknown keys, as it does ``position``.
VARIADIC_KEY = "variadic"
#: A variadic parameter's kind → its ``VARIADIC_KEY`` value and JSON type.
_VARIADIC = {_VAR_POSITIONAL: ("positional", "array"), _VAR_KEYWORD: ("keyword", "object")}


# -- docstrings -------------------------------------------------------------------------------------


def docstring_summary(doc: str | None) -> str | None:
    """The first paragraph of a docstring, on one line; None when there is none."""
    if not doc:
        return None
    summary = inspect.cleandoc(doc).split("\n\n")[0].strip()
    return " ".join(summary.split()) or None


def parameter_descriptions(doc: str | None) -> dict[str, str]:
    """Descriptions of parameters from a docstring: Google (``Args:``), NumPy (``Parameters`` and
    dashes), reST (``:param name:``) or Epydoc, whichever it is written in.

    Each description is on one line; ``*items`` and ``**options`` are named without their stars.
    """
    if not doc or not doc.strip():
        return {}
    import docstring_parser  # some 4 ms of regular expressions: only a schema needs it

    try:
        parsed = docstring_parser.parse(doc)
    except Exception:  # its parsers can fail on odd text (an IndexError on ': :'): a docstring never stops a build
        return {}
    return {param.arg_name.lstrip("*"): " ".join((param.description or "").split()) for param in parsed.params}


# -- the model of a signature -----------------------------------------------------------------------


class _ParametersBase(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", populate_by_name=True)


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return dict(getattr(fn, "__annotations__", {}))


def _is_pydantic_unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in BaseModel.__dict__ or name in ("model_config", "schema", "json")


@lru_cache(maxsize=256)
def signature_model(fn: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model with one field per parameter of ``fn`` (``*items`` a list, ``**options`` a dict).

    Field names that pydantic reserves (``json``, ``_private``…) are aliased, so every parameter name works.
    """
    signature = inspect.signature(fn)
    hints = _annotations(fn)
    fields: dict[str, Any] = {}
    for position, (name, parameter) in enumerate(signature.parameters.items()):
        annotation = hints.get(name, Any)
        if parameter.kind is _VAR_POSITIONAL:
            annotation, default = list[annotation], []  # type: ignore[valid-type]
        elif parameter.kind is _VAR_KEYWORD:
            annotation, default = dict[str, annotation], {}  # type: ignore[valid-type]
        else:
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        field_name = f"param_{position}_" if _is_pydantic_unsafe_name(name) else name
        extra = {"position": position}
        fields[field_name] = (
            annotation,
            Field(
                default=default,
                alias=name if field_name != name else None,
                title=name,
                json_schema_extra=extra,
                validate_default=False,
            ),
        )
    return create_model(f"{getattr(fn, '__name__', 'flow')}_parameters", __base__=_ParametersBase, **fields)


def parameter_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema of ``fn``'s parameters, in the layout Prefect 2 stores on a deployment.

    Types come from annotations, defaults from the signature, descriptions from the docstring
    (``parameter_descriptions``); pydantic models go to ``definitions`` and are referenced as
    ``#/definitions/Model``. ``**options`` (any name) is an object and ``*items`` an array, named
    after the parameter and marked with ``VARIADIC_KEY``. A default that cannot be put in JSON is left
    out of the schema (the flow still uses it).
    """
    model = signature_model(fn)
    with warnings.catch_warnings():
        # pydantic leaves out (and warns about) defaults that are not JSON; the flow still uses them
        warnings.simplefilter("ignore")
        raw = model.model_json_schema(ref_template="#/definitions/{model}", by_alias=True)
    signature = inspect.signature(fn)
    # descriptions join here rather than the model, so running a flow never parses its docstring
    descriptions = parameter_descriptions(fn.__doc__)
    properties: dict[str, Any] = {}
    for name, prop in raw.get("properties", {}).items():
        parameter = signature.parameters.get(name)
        prop = dict(prop)
        if name in descriptions:
            prop["description"] = descriptions[name]
        if parameter is not None and parameter.kind in _VARIADIC:
            kind, json_type = _VARIADIC[parameter.kind]
            described = {"description": prop["description"]} if prop.get("description") else {}
            prop = {"title": name, **described, "type": json_type, VARIADIC_KEY: kind, "position": prop.get("position")}
        properties[name] = _ordered(prop)
    return {
        "title": "Parameters",
        "type": "object",
        "properties": properties,
        "required": [name for name in raw.get("required", []) if name in properties],
        "definitions": raw.get("$defs", {}),
    }


def extra_keywords_parameter(schema: Mapping[str, Any] | None) -> str | None:
    """The name of the ``**`` parameter of the flow ``schema`` describes, or None when it has none.

    That parameter takes the parameters of any other name, so a flow that has one accepts unknown
    names. It is the property marked ``VARIADIC_KEY: "keyword"``; a schema without that mark (written
    by Prefect 2 or an older Sluice) names it ``kwargs``, an object.
    """
    properties = {
        name: prop for name, prop in ((schema or {}).get("properties") or {}).items() if isinstance(prop, Mapping)
    }
    marked = {name: prop[VARIADIC_KEY] for name, prop in properties.items() if VARIADIC_KEY in prop}
    if marked:
        return next((name for name, kind in marked.items() if kind == "keyword"), None)
    return "kwargs" if properties.get("kwargs", {}).get("type") == "object" else None


# -- validation -------------------------------------------------------------------------------------


def validate_parameters(fn: Callable[..., Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Check and coerce ``values`` (by parameter name) against ``fn``'s signature.

    Returns the coerced values of the parameters given (defaults are not filled in, so the flow's own
    defaults apply). Unknown names go into ``fn``'s ``**`` parameter (whatever its name); without one
    they, missing required parameters and values of the wrong type raise one ``ParameterError`` naming
    each parameter at fault.
    """
    signature = inspect.signature(fn)
    names = [name for name, p in signature.parameters.items() if p.kind not in (_VAR_POSITIONAL, _VAR_KEYWORD)]
    var_keyword = next((n for n, p in signature.parameters.items() if p.kind is _VAR_KEYWORD), None)
    var_positional = next((n for n, p in signature.parameters.items() if p.kind is _VAR_POSITIONAL), None)
    known = set(names) | {n for n in (var_keyword, var_positional) if n}
    unknown = [name for name in values if name not in known]
    given = dict(values)
    if unknown and var_keyword is None:
        expected = ", ".join(names) or "none"
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for flow function {fn.__name__!r} (its parameters: {expected})"
        )
    if unknown and var_keyword is not None:
        extra = {name: given.pop(name) for name in unknown}
        given[var_keyword] = {**dict(given.get(var_keyword) or {}), **extra}
    model = signature_model(fn)
    try:
        validated = model.model_validate(given)
    except ValidationError as exc:
        raise ParameterError(_describe_errors(fn, exc)) from None
    result: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        name = info.alias or field_name
        if name in given:
            result[name] = getattr(validated, field_name)
    return result


_KEY_ORDER = ("title", "description", "default", "type")


def _ordered(prop: dict[str, Any]) -> dict[str, Any]:
    """Keys in Prefect's order: title, description, default, type, the rest, position last."""
    first = {key: prop[key] for key in _KEY_ORDER if key in prop}
    rest = {key: value for key, value in prop.items() if key not in first and key != "position"}
    return {**first, **rest, **({"position": prop["position"]} if "position" in prop else {})}


def _describe_errors(fn: Callable[..., Any], exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = [str(item) for item in error.get("loc", ())]
        name = location[0] if location else "?"
        where = ".".join(location[1:])
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "missing" and len(location) == 1:
            parts.append(f"parameter {name!r} is required")
            continue
        value = error.get("input")
        shown = repr(value) if not isinstance(value, dict | list) else json.dumps(value, default=str)[:80]
        parts.append(f"parameter {name!r}{f' ({where})' if where else ''}: {message} (got {shown})")
    return f"invalid parameters for flow function {fn.__name__!r}: " + "; ".join(parts)


def jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible data (pydantic models, dates, UUIDs…); anything else as its repr."""
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=repr)


def bind_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a call ``fn(*args, **kwargs)`` by name (``*items`` as a list, ``**options`` as a dict)."""
    signature = inspect.signature(fn)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise ParameterError(f"flow function {fn.__name__!r}: {exc}") from None
    result = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is _VAR_POSITIONAL and name in result:
            result[name] = list(result[name])
    return result


def call_with_parameters(fn: Callable[..., Any], parameters: Mapping[str, Any]) -> Any:
    """Call ``fn`` with parameters by name, spreading its ``*items`` list and ``**options`` dict (any names)."""
    signature = inspect.signature(fn)
    arguments = {name: parameters[name] for name in signature.parameters if name in parameters}
    bound = inspect.BoundArguments(signature, arguments)  # type: ignore[arg-type]
    bound.apply_defaults()
    return fn(*bound.args, **bound.kwargs)
