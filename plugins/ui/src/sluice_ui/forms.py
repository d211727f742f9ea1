"""Forms generated from a JSON schema: a flow's parameters, a block type's fields.

``schema_fields`` turns a schema and current values into ``FormField`` objects the ``fields`` macro
renders (text — a text area for a string of ``"format": "multiline"`` —, number, integer, boolean,
enum as a select, everything else as a JSON text area);
``parse_schema_form`` reads them back from a posted form into JSON values, with one error message
per field that is wrong. Inputs are named ``<prefix><property>`` so they never clash with the other
inputs of the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Input name prefix of parameter fields.
PARAM_PREFIX = "param."
#: Input name prefix of block fields.
BLOCK_PREFIX = "block."


@dataclass
class FormField:
    """One input of a generated form, ready to render."""

    name: str
    input_name: str
    label: str
    kind: str  # text, multiline, secret, integer, number, boolean, select, json
    required: bool = False
    description: str | None = None
    value: str = ""
    checked: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    stored_secret: bool = False
    schema: dict[str, Any] = field(default_factory=dict)


def _lookup_ref(ref: str, root: Mapping[str, Any]) -> dict[str, Any]:
    """The definition a local ``$ref`` (``#/definitions/X`` or ``#/$defs/X``) points at, or {}."""
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return dict(node) if isinstance(node, Mapping) else {}


def resolve_property(prop: Mapping[str, Any], root: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property with its ``$ref``/``allOf`` followed and an optional (``| None``) union unwrapped.

    Returns the resolved property and whether ``null`` is allowed.
    """
    resolved = dict(prop)
    nullable = False
    for _ in range(5):  # references of references, a few levels deep at most
        if "$ref" in resolved:
            target = _lookup_ref(str(resolved.pop("$ref")), root)
            resolved = {**target, **resolved}
        elif isinstance(resolved.get("allOf"), list) and len(resolved["allOf"]) == 1:
            target = dict(resolved.pop("allOf")[0])
            resolved = {**target, **resolved}
        elif isinstance(resolved.get("anyOf") or resolved.get("oneOf"), list):
            key = "anyOf" if "anyOf" in resolved else "oneOf"
            options = [option for option in resolved[key] if option.get("type") != "null"]
            if len(options) == len(resolved[key]) or len(options) != 1:
                break
            nullable = True
            resolved.pop(key)
            resolved = {**dict(options[0]), **resolved}
        else:
            break
    if resolved.get("type") == "null":
        nullable = True
    if isinstance(resolved.get("type"), list):
        types = [kind for kind in resolved["type"] if kind != "null"]
        nullable = nullable or len(types) != len(resolved["type"])
        resolved["type"] = types[0] if len(types) == 1 else types
    return resolved, nullable


def _kind(prop: Mapping[str, Any], secret: bool) -> str:
    if secret:
        return "secret"
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return "select"
    kind = prop.get("type")
    if kind == "string":
        return "multiline" if prop.get("format") == "multiline" else "text"
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    return "json"


def _as_text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if kind == "select":
        return json.dumps(value)
    if kind in ("text", "multiline") and not isinstance(value, str):
        return json.dumps(value)
    return str(value)


def ordered_properties(schema: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The schema's properties in ``position`` order (then as listed)."""
    properties = (schema or {}).get("properties") or {}
    items = [(name, dict(prop)) for name, prop in properties.items() if isinstance(prop, Mapping)]
    return sorted(items, key=lambda item: (item[1].get("position", 10**6), list(properties).index(item[0])))


def schema_fields(
    schema: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    prefix: str,
    secret_fields: Iterable[str] = (),
    use_defaults: bool = True,
    stored: Iterable[str] = (),
) -> list[FormField]:
    """The inputs for ``schema``, filled with ``values`` (else the schema's defaults).

    :param secret_fields: property names shown as password inputs, never filled in.
    :param stored: secret names that have a stored value (the input says it is kept when left empty).
    """
    secrets, kept = set(secret_fields), set(stored)
    required = set((schema or {}).get("required") or [])
    result = []
    for name, raw in ordered_properties(schema):
        prop, _ = resolve_property(raw, schema or {})
        kind = _kind(prop, name in secrets)
        default = prop.get("default") if use_defaults else None
        value = values.get(name, default)
        item = FormField(
            name=name,
            input_name=prefix + name,
            label=str(raw.get("title") or prop.get("title") or name),
            kind=kind,
            required=name in required,
            description=raw.get("description") or prop.get("description"),
            schema=prop,
            stored_secret=name in kept,
        )
        if kind == "boolean":
            item.checked = value is True
        elif kind != "secret":
            item.value = _as_text(kind, value)
        if kind == "select":
            item.options = [(json.dumps(option), str(option)) for option in prop["enum"]]
        result.append(item)
    return result


def read_field(item: FormField, form: Mapping[str, Any]) -> tuple[bool, Any, str | None]:
    """``(given, value, error)`` for one field of a posted form; ``item`` keeps what was typed, to be
    shown again (never a secret)."""
    getlist = getattr(form, "getlist", None)
    if item.kind == "boolean":
        given = getlist(item.input_name) if getlist else [form.get(item.input_name, "false")]
        item.checked = "true" in given
        return True, item.checked, None
    raw = form.get(item.input_name)
    text = raw if isinstance(raw, str) else ""
    item.value = text if item.kind != "secret" else ""
    if item.kind in ("text", "multiline", "secret"):
        return text != "", text, None
    if text.strip() == "":
        return False, None, None
    if item.kind == "integer":
        try:
            return True, int(text.strip()), None
        except ValueError:
            return True, None, f"must be a whole number, not {text.strip()!r}"
    if item.kind == "number":
        try:
            number = float(text.strip())
        except ValueError:
            return True, None, f"must be a number, not {text.strip()!r}"
        if number != number or number in (float("inf"), float("-inf")):
            return True, None, "must be a finite number"
        written_as_integer = "." not in text and "e" not in text.lower()
        return True, int(number) if number.is_integer() and written_as_integer else number, None
    try:
        return True, json.loads(text), None
    except ValueError as exc:
        if item.kind == "select":
            return True, None, "choose one of the listed values"
        return True, None, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"


def parse_schema_form(
    schema: Mapping[str, Any] | None,
    form: Mapping[str, Any],
    prefix: str,
    secret_fields: Iterable[str] = (),
    stored: Iterable[str] = (),
    require_all: bool = True,
) -> tuple[dict[str, Any], list[FormField], dict[str, str]]:
    """Read the generated inputs back: ``(values, fields to render again, errors by field name)``.

    An empty input is left out of ``values`` (so a default applies, and an untouched secret keeps
    its stored value); with ``require_all`` false, missing required values are no error (defaults
    that the run supplies later). The values are then checked against the schema, so each problem is shown next
    to its field before anything is sent to the API.
    """
    fields = schema_fields(schema, {}, prefix, secret_fields, use_defaults=False, stored=stored)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    kept = set(stored)
    for item in fields:
        given, value, error = read_field(item, form)
        if error:
            errors[item.name] = error
        elif given:
            values[item.name] = value
        elif require_all and item.required and not (item.kind == "secret" and item.name in kept):
            errors[item.name] = "is required"
    # Fields already wrong keep their own message; the schema speaks for the others.
    for name, message in _schema_errors(schema, values, {item.name for item in fields}, kept, require_all).items():
        errors.setdefault(name, message)
    for item in fields:
        item.error = errors.get(item.name)
    return values, fields, errors


def _schema_errors(
    schema: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    names: set[str],
    kept: set[str],
    require_all: bool = True,
) -> dict[str, str]:
    """Problems ``jsonschema`` finds, keyed by the field they belong to ("" for the form as a whole)."""
    if not schema:
        return {}
    from jsonschema import validators

    try:
        validator = validators.validator_for(schema)(schema)
        found = list(validator.iter_errors(dict(values)))
    except Exception:  # a schema jsonschema cannot apply: the API will say so
        return {}
    errors: dict[str, str] = {}
    for error in found:
        path = list(error.absolute_path)
        if error.validator == "required" and not path:
            if not require_all:
                continue
            for name in error.validator_value:
                if name not in values and name not in kept:
                    if name in names:
                        errors.setdefault(name, "is required")
                    else:
                        errors.setdefault("", f"{name!r} is required")
            continue
        if path and str(path[0]) in names:
            where = "".join(f"[{part!r}]" for part in path[1:])
            errors.setdefault(str(path[0]), f"{where} {error.message}".strip())
        else:
            errors.setdefault("", error.message)
    return errors
