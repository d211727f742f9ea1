"""The ``deployment.yaml`` format: rendering in Prefect 2's layout, and reading it back.

A file starts with a header comment naming the flow, then the fields a user may edit, then a
``DO NOT EDIT BELOW THIS LINE`` block with what ``build`` computed. Files written by Prefect 2's
``prefect deployment build`` are accepted unchanged: the Prefect-only keys listed in
``PREFECT_ONLY_KEYS`` are ignored on purpose, and Prefect's block keys (``_block_type_slug``…) and
schedule shapes (no ``type``) are mapped to Sluice's.
"""

from __future__ import annotations

from typing import Any

import yaml

from sluice.errors import ConfigurationError

#: The fields a user may edit, in the order they are written.
EDITABLE_FIELDS = (
    "name",
    "description",
    "version",
    "work_queue_name",
    "tags",
    "parameters",
    "schedule",
    "schedules",
    "is_schedule_active",
    "catchup",
    "max_lateness",
    "concurrency_limit",
    "infra_overrides",
    "infrastructure",
)
#: The fields ``build`` computes, written below the ``DO NOT EDIT`` line, in this order.
LOCKED_FIELDS = ("flow_name", "manifest_path", "storage", "path", "entrypoint", "parameter_openapi_schema")
ALL_FIELDS = EDITABLE_FIELDS + LOCKED_FIELDS
#: Editable fields ``render_yaml`` leaves out when ``data`` has no key for them.
OPTIONAL_FIELDS = frozenset({"schedules", "max_lateness", "concurrency_limit"})

#: Keys Prefect 2 writes that mean nothing to Sluice; they are dropped when a file is read.
PREFECT_ONLY_KEYS = frozenset(
    {"work_pool_name", "work_pool_queue_name", "timestamp", "triggers", "enforce_parameter_schema", "pull_steps"}
)
#: Keys Prefect 2 adds to a serialized block; the slug is read from them, the rest is dropped.
BLOCK_META_KEYS = ("_block_type_slug", "block_type_slug", "_block_document_id", "_block_document_name", "_is_anonymous")
#: The engine command Prefect 2 writes into a process block; Sluice's own default replaces it.
PREFECT_ENGINE_COMMANDS = (["python", "-m", "prefect.engine"], ["python3", "-m", "prefect.engine"])

COMMENTS = {
    "work_queue_name": "# The work queue that will handle this deployment's runs",
    "schedule": "# When runs are created: a schedule with its type (null: only on demand)",
    "schedules": "# Several schedules, each {schedule, active, id}: replaces the server's list when given",
    "max_lateness": "# Seconds after which a run that has not started is cancelled (null: never)",
    "concurrency_limit": "# At most this many runs of the deployment at once (null: no limit)",
    "catchup": "# Whether runs missed while the scheduler was down are created late (true) or skipped",
    "infra_overrides": "# Dot-path overrides applied to the infrastructure block, e.g. env.LOG_LEVEL: DEBUG",
}


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings kept readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def render_yaml(data: dict[str, Any], flow_name: str | None) -> str:
    """``data`` (every field, JSON-ready) as a deployment.yaml in Prefect 2's layout; the
    ``OPTIONAL_FIELDS`` missing from ``data`` are not written."""
    lines = ["###", f"### A complete description of a Sluice Deployment for flow {flow_name!r}", "###"]
    for name in EDITABLE_FIELDS:
        if name in OPTIONAL_FIELDS and name not in data:
            continue  # left out: applying the file keeps the server's value
        if name in COMMENTS:
            lines.append(COMMENTS[name])
        lines.append(_dump({name: data.get(name)}).rstrip("\n"))
    lines += ["", "###", "### DO NOT EDIT BELOW THIS LINE", "###"]
    for name in LOCKED_FIELDS:
        lines.append(_dump({name: data.get(name)}).rstrip("\n"))
    return "\n".join(lines) + "\n"


def parse_yaml(text: str, source: str = "<string>") -> dict[str, Any]:
    """Read a deployment.yaml into a dict of Sluice fields.

    Malformed YAML, a document that is not a mapping and unknown keys raise ``ConfigurationError``
    naming the file (and the line, for syntax errors) and the keys.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigurationError(f"{source}{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{source}: a deployment file must be a YAML mapping of fields, e.g. 'name: marvin'")
    data = {str(key): value for key, value in data.items() if key not in PREFECT_ONLY_KEYS}
    if "job_variables" in data:
        data = _job_variables_as_overrides(data, source)
    unknown = sorted(key for key in data if key not in ALL_FIELDS)
    if unknown:
        raise ConfigurationError(
            f"{source}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(known fields: {', '.join(ALL_FIELDS)})"
        )
    if isinstance(data.get("schedule"), dict):
        data["schedule"] = normalise_schedule(data["schedule"])
    return data


def _job_variables_as_overrides(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Prefect 2.20 reads ``job_variables`` as another name for ``infra_overrides``; so does Sluice."""
    data = dict(data)
    job_variables = data.pop("job_variables")
    overrides = data.get("infra_overrides")
    if job_variables is not None and overrides not in (None, {}, job_variables):
        raise ConfigurationError(
            f"{source}: 'job_variables' and 'infra_overrides' are two names for the same field: keep one"
        )
    if job_variables is not None or "infra_overrides" not in data:
        data["infra_overrides"] = job_variables
    return data


def normalise_schedule(schedule: dict[str, Any]) -> dict[str, Any]:
    """A schedule with its ``type``: Prefect 2 writes none (``{cron: ...}``); the installed schedule
    type whose ``untyped_key`` the schedule holds is its type (``sluice.schedules.typed_schedule_data``)."""
    from sluice.schedules import typed_schedule_data

    result = typed_schedule_data(schedule)
    if result.get("timezone") is None:
        result.pop("timezone", None)  # Prefect writes null for "the default"
    return result


def split_block_data(data: dict[str, Any], what: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Split a serialized block into its slug, its fields and its Prefect/Sluice metadata."""
    fields = dict(data)
    meta = {key: fields.pop(key) for key in BLOCK_META_KEYS if key in fields}
    slug = meta.get("_block_type_slug") or meta.get("block_type_slug") or fields.get("type")
    if not isinstance(slug, str) or not slug:
        where = f"{what}: " if what else ""
        raise ConfigurationError(f"{where}give the block type as 'type: <slug>' (the slugs: `sluice block type ls`)")
    return slug, fields, meta
