"""The steps of building a deployment, shared by ``Deployment.build_from_flow`` and ``sluice deployment build``.

Every step that can fail on bad input (the entrypoint, parameters, overrides, the schedule, the
block slugs) runs before anything is uploaded or written, so a bad command line changes nothing.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from sluice.blocks import InfrastructureBlock, Progress, StorageBlock
    from sluice.deployments import Deployment
    from sluice.flows import Flow
    from sluice.ignore import UploadPlan
    from sluice.schedules import Schedule


def parse_assignments(items: Iterable[str], option: str, decode_json: bool) -> dict[str, Any]:
    """``["a=1", "b=x"]`` → ``{"a": 1, "b": "x"}``; an item without ``=`` raises ``ConfigurationError``.

    With ``decode_json`` a value that is valid JSON is decoded (``3`` → 3, ``true`` → True,
    ``[1,2]`` → a list); anything else stays a string.
    """
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{option} {item!r} is not KEY=VALUE (e.g. {option} env.LOG_LEVEL=DEBUG)")
        result[key.strip()] = decode_value(value) if decode_json else value
    return result


def overrides_from_value(value: Any) -> dict[str, Any]:
    """``infra_overrides`` as a dict: a dict as it is, None as ``{}``, and a list of ``KEY=VALUE``
    strings (the form Prefect 2's deployment docs show) as the dict it stands for, values kept as
    text as ``--override`` keeps them. Anything else raises ``ConfigurationError`` (a ``ValueError``).
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if not isinstance(value, list | tuple):
        raise ConfigurationError(
            f"give a mapping such as {{'env.LOG_LEVEL': 'DEBUG'}} or a list such as ['env.LOG_LEVEL=DEBUG'], "
            f"not {type(value).__name__}"
        )
    result: dict[str, Any] = {}
    for item in value:
        key, sep, text = item.partition("=") if isinstance(item, str) else ("", "", "")
        if not sep or not key.strip():
            raise ConfigurationError(f"{item!r} is not a 'KEY=VALUE' string such as 'env.LOG_LEVEL=DEBUG'")
        result[key.strip()] = text
    return result


def decode_value(value: str) -> Any:
    """A command-line value: JSON when it parses as JSON, else the string itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_parameters(
    params: Iterable[str], params_json: str | None, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge ``--params JSON`` and ``--param k=v`` (the latter win) into one dict.

    A ``--param`` value is decoded as JSON, except for parameters the ``schema`` declares as strings,
    which keep the text as given (``--param name=42`` is the string ``"42"``).
    """
    merged: dict[str, Any] = {}
    if params_json:
        try:
            decoded = json.loads(params_json)
        except ValueError as exc:
            raise ConfigurationError(f"--params is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise ConfigurationError('--params must be a JSON object, e.g. --params \'{"name": "Arthur"}\'')
        merged.update(decoded)
    properties = (schema or {}).get("properties") or {}
    for key, value in parse_assignments(params, "--param", decode_json=False).items():
        merged[key] = value if properties.get(key, {}).get("type") == "string" else decode_value(value)
    return merged


@dataclass(frozen=True)
class ScheduleOption:
    """A schedule given on the command line: by a plugin's shorthand (``--cron '0 9 * * *'``) or by
    ``--schedule`` (a mapping with its type)."""

    #: How it was given, for messages: ``--cron``, ``--schedule``.
    option: str
    #: The schedule's JSON form, its ``type`` included (or its untyped key, for ``--schedule``).
    data: dict[str, Any]


#: The longest ``--schedule`` text read: a schedule is a few fields.
MAX_SCHEDULE_OPTION_CHARS = 10_000


def parse_schedule_option(text: str) -> ScheduleOption:
    """``--schedule '{type: weekdays, at: "09:00"}'``: a YAML (or JSON) mapping naming a schedule type.

    YAML anchors and aliases are refused (they can multiply a short text into a huge value), and so is
    a text past ``MAX_SCHEDULE_OPTION_CHARS``; anything but a mapping raises ``ConfigurationError``.
    """
    import yaml

    example = "e.g. --schedule '{type: <type>, <field>: <value>}'"
    if len(text) > MAX_SCHEDULE_OPTION_CHARS:
        raise ConfigurationError(f"--schedule is longer than {MAX_SCHEDULE_OPTION_CHARS} characters")
    try:
        if any(isinstance(token, yaml.AliasToken | yaml.AnchorToken) for token in yaml.scan(text)):
            raise ConfigurationError("--schedule: YAML anchors and aliases (& and *) are not accepted")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigurationError(f"--schedule is not valid YAML or JSON ({problem}): {example}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"--schedule must be a mapping with the schedule's type and fields, {example}")
    return ScheduleOption("--schedule", {str(key): value for key, value in data.items()})


def schedule_from_options(
    given: Iterable[ScheduleOption], timezone: str | None, choices: str = "--schedule"
) -> Schedule | None:
    """The one schedule given on the command line, with ``--timezone`` applied; None when none is.

    :param given: the schedules given (an option given an empty or zero value counts, so the schedule
        type explains what is wrong with it — ``--interval 0`` — instead of the deployment silently
        getting no schedule).
    :param choices: the options that give a schedule, for messages: ``--cron, --interval or --schedule``.
    """
    from sluice.schedules import schedule_from_dict, typed_schedule_data

    given = list(given)
    if len(given) > 1:
        raise ConfigurationError(f"give only one of {choices.replace(' or ', ' and ')}")
    if not given:
        if timezone is not None:
            raise ConfigurationError(f"--timezone needs {choices}")
        return None
    option = given[0]
    data = dict(option.data)
    if timezone is not None:
        own = data.get("timezone")
        if own is not None and own != timezone:
            raise ConfigurationError(
                f"{option.option} says timezone {own!r} and --timezone says {timezone!r}: give the time zone once"
            )
        data["timezone"] = timezone
    return schedule_from_dict(typed_schedule_data(data))


def resolve_infrastructure(infra_type: str | None, infra_block: str | None) -> InfrastructureBlock:
    """``-i TYPE`` (a fresh block of that type), ``-ib TYPE/NAME`` (a saved one), or an anonymous block of
    the default type (``SLUICE_DEFAULT_INFRASTRUCTURE``)."""
    from sluice.blocks import parse_block_slug
    from sluice.deployments import default_infrastructure
    from sluice.plugins import get_registry

    if infra_type and infra_block:
        raise ConfigurationError("give either --infra or --infra-block, not both")
    registry = get_registry("infrastructure")
    if infra_block:
        slug, name, extra = parse_block_slug(infra_block)
        if extra:
            raise ConfigurationError(f"--infra-block {infra_block!r}: use 'type/name' (no sub-path)")
        return registry.get(slug).load(name)
    return registry.get(infra_type)() if infra_type else default_infrastructure()


def resolve_storage(storage_block: str | None) -> tuple[StorageBlock | None, str | None]:
    """``-sb type/name[/path]`` → the saved storage block and the sub-path (None, None without it)."""
    if not storage_block:
        return None, None
    from sluice.blocks import parse_block_slug
    from sluice.plugins import get_registry

    slug, name, sub_path = parse_block_slug(storage_block)
    return get_registry("storage").get(slug).load(name), sub_path


def storage_path(block_sub_path: str | None, path: str | None) -> str | None:
    """Where a deployment's files go in its storage block: the slug's sub-path joined with ``--path``.

    ``-sb s3/dev/team --path app`` gives ``team/app``; either part may be missing (None when both
    are). A part that is absolute or climbs out with ``..`` raises ``ConfigurationError``, before
    anything is uploaded.
    """
    from sluice.storage import relative_parts

    parts: list[str] = []
    for option, value in (("--storage-block sub-path", block_sub_path), ("--path", path)):
        try:
            parts.extend(relative_parts(value))
        except ValueError as exc:
            raise ConfigurationError(f"{option}: {exc}") from None
    return "/".join(parts) or None


def takes_uploads(storage: StorageBlock) -> bool:
    """False for a read-only block (``github``): its code is pushed with its own tools, so build skips
    the upload, as Prefect 2 does for a block without the ``put-directory`` capability."""
    return "put-directory" in type(storage).block_capabilities


def flow_file_of(flow: Flow[..., Any]) -> Path:
    """The file that defines the flow's function."""
    source = inspect.getsourcefile(flow.fn)
    if source is None:
        raise ConfigurationError(f"cannot tell which file defines flow {flow.name!r}")
    return Path(source).resolve()


def relative_entrypoint(flow: Flow[..., Any], root: Path) -> str:
    """``flows/marvin.py:say_hi`` — the flow's file relative to ``root``, and its function."""
    file = flow_file_of(flow)
    try:
        relative = file.relative_to(root.resolve())
    except ValueError:
        raise ConfigurationError(
            f"the flow file {file} is not inside the deployment's folder {root.resolve()}: "
            "run build from a folder that contains it, or give --path"
        ) from None
    return f"{relative.as_posix()}:{flow.fn.__name__}"


def build_deployment(
    cls: type[Deployment],
    flow: Flow[..., Any],
    name: str,
    version: str | int | float | None = None,
    work_queue_name: str | None = None,
    storage: StorageBlock | None = None,
    infrastructure: InfrastructureBlock | None = None,
    infra_overrides: dict[str, Any] | list[str] | None = None,
    schedule: Schedule | dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    description: str | None = None,
    path: str | None = None,
    entrypoint: str | None = None,
    skip_upload: bool = False,
    apply: bool = False,
    follow_symlinks: bool = False,
) -> Deployment:
    """Make the ``Deployment`` of ``flow`` (see ``Deployment.build_from_flow``); upload and apply on request."""
    deployment = describe_deployment(
        cls,
        flow,
        name=name,
        version=version,
        work_queue_name=work_queue_name,
        storage=storage,
        infrastructure=infrastructure,
        infra_overrides=infra_overrides,
        schedule=schedule,
        parameters=parameters,
        tags=tags,
        description=description,
        path=path,
        entrypoint=entrypoint,
    )
    if storage is not None and not skip_upload and takes_uploads(storage):
        deployment.upload(Path.cwd(), follow_symlinks=follow_symlinks)
    if apply:
        deployment.apply()
    return deployment


def describe_deployment(
    cls: type[Deployment],
    flow: Flow[..., Any],
    name: str,
    version: str | int | float | None = None,
    work_queue_name: str | None = None,
    storage: StorageBlock | None = None,
    infrastructure: InfrastructureBlock | None = None,
    infra_overrides: dict[str, Any] | list[str] | None = None,
    schedule: Schedule | dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    description: str | None = None,
    path: str | None = None,
    entrypoint: str | None = None,
) -> Deployment:
    """The ``Deployment`` of ``flow``, validated, without uploading or applying anything.

    Without storage, ``path`` is the local folder the entrypoint is relative to (default: the current
    folder). With storage, the current folder is what is uploaded and ``path`` is the sub-path in the
    storage block (relative: an absolute one or one with ``..`` is a ``ConfigurationError``).
    """
    from pydantic import ValidationError

    from sluice.flows import file_md5
    from sluice.parameters import jsonable
    from sluice.schedules import format_validation_error

    if storage is None:
        root = Path(path or ".").resolve()
        deployment_path: str | None = str(root)
    else:
        root, deployment_path = Path.cwd().resolve(), storage_path(None, path)
    values = flow.validate_parameters(dict(parameters or {})) if parameters else {}
    try:
        infra_overrides = overrides_from_value(infra_overrides)
    except ConfigurationError as exc:
        raise ConfigurationError(f"infra_overrides: {exc}") from None
    infrastructure = infrastructure or resolve_infrastructure(None, None)
    if infra_overrides:
        infrastructure.with_overrides(infra_overrides)  # fail now on an override the block rejects
    try:
        return cls(
            name=name,
            flow_name=flow.name,
            description=description if description is not None else flow.description,
            version=version if version not in (None, "") else flow.version or file_md5(flow_file_of(flow)),
            work_queue_name=work_queue_name,
            tags=list(tags or []),
            parameters=jsonable(values),
            schedule=schedule,
            infra_overrides=dict(infra_overrides or {}),
            infrastructure=infrastructure,
            storage=storage,
            path=deployment_path,
            entrypoint=entrypoint or relative_entrypoint(flow, root),
            parameter_openapi_schema=flow.parameters,
        )
    except ValidationError as exc:
        raise ConfigurationError(f"invalid deployment: {format_validation_error(exc)}") from None


def upload_files(
    storage: StorageBlock,
    local_path: str | Path,
    to_path: str | None,
    progress: Progress | None = None,
    follow_symlinks: bool = False,
) -> int:
    """``storage.put_directory``, passing ``follow_symlinks`` only when it is asked for.

    A storage plugin written before the keyword existed keeps working; asked to follow symlinks, it
    is refused with a ``ConfigurationError`` that says so, rather than a ``TypeError``.
    """
    if not follow_symlinks:
        return storage.put_directory(local_path, to_path=to_path, progress=progress)
    parameters = inspect.signature(storage.put_directory).parameters.values()
    if not any(item.name == "follow_symlinks" or item.kind is item.VAR_KEYWORD for item in parameters):
        raise ConfigurationError(
            f"the {storage.block_type_slug!r} storage block cannot follow symlinks (its put_directory takes no "
            "follow_symlinks): upgrade its plugin, or replace the links with copies of their targets"
        )
    return storage.put_directory(local_path, to_path=to_path, progress=progress, follow_symlinks=True)


def upload_with_progress(deployment: Deployment, plan: UploadPlan, show: bool = True) -> tuple[int, int]:
    """Upload ``plan.root`` to the deployment's storage with a progress bar; return (files, bytes).

    ``plan`` is ``sluice.ignore.plan_upload`` of the folder, already checked; it gives the total size.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    size = sum((plan.root / file).stat().st_size for file in plan.files)
    columns = (TextColumn("Uploading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True, disable=not show) as progress:
        task = progress.add_task("upload", total=len(plan.files))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        count = deployment.upload(plan.root, progress=advance, follow_symlinks=plan.follow_symlinks)
    return count, size
