"""Deployments from Python: build one from a flow, read and write deployment.yaml, apply it to the API,
load it back, and create runs of it.

    from sluice.deployments import Deployment, run_deployment

    deployment = Deployment.build_from_flow(say_hi, name="marvin", work_queue_name="test")
    deployment.apply()
    run = run_deployment("say-hi/marvin", parameters={"name": "Arthur"}, timeout=60)

``apply`` only sends the fields that were set explicitly (given to the constructor, read from a
file, or assigned): a field left out keeps the value it has on the server, a field set to ``None``
or ``[]`` clears it. Schedules follow the same rule: ``schedules`` replaces the server's list,
``schedule`` alone replaces it by that one schedule, neither keeps it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sluice.blocks import Block, InfrastructureBlock, StorageBlock
from sluice.deployment_yaml import ALL_FIELDS, PREFECT_ENGINE_COMMANDS, parse_yaml, render_yaml, split_block_data
from sluice.errors import ConfigurationError, ObjectNotFound, ParameterError
from sluice.schedules import Schedule, format_validation_error

BlockT = TypeVar("BlockT", bound=Block)

#: Fields that describe a deployment on the API (sent by ``apply``), besides its name and flow: every
#: field of the YAML but the name, the flow and the two blocks (sent as documents or inline data).
API_FIELDS = tuple(name for name in ALL_FIELDS if name not in ("name", "flow_name", "storage", "infrastructure"))


#: Fields for which None means "not given" (Prefect 2 writes null for its default), so the server keeps
#: its value: they are dropped before validation rather than refused.
NULL_MEANS_DEFAULT = ("is_schedule_active", "catchup")


#: Fields ``to_yaml`` writes only when they are set explicitly or hold a value: a file without
#: them keeps the server's values when applied (Prefect 2's layout has none of them).
OPTIONAL_YAML_FIELDS = ("schedules", "max_lateness", "concurrency_limit")


def _schedule_from_value(value: Any) -> Any:
    """A schedule dict (Sluice's or Prefect 2's shape) as a ``Schedule``; anything else unchanged."""
    if isinstance(value, dict):
        from sluice.deployment_yaml import normalise_schedule
        from sluice.schedules import schedule_from_dict

        return schedule_from_dict(normalise_schedule(value))
    return value


def schedule_to_data(schedule: Schedule) -> dict[str, Any]:
    """A schedule as JSON-ready data, its ``type`` first, as people write it."""
    value = schedule.model_dump(mode="json")
    return {"type": value.pop("type"), **value} if "type" in value else value


class DeploymentSchedule(BaseModel):
    """One entry of a deployment's ``schedules``: the schedule, whether it creates runs, and its id.

    Leave ``id`` out for a new entry: the server keeps the id of a stored entry with the same
    schedule, else derives one from the schedule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: Schedule = Field(description="A schedule of any installed type, with its type.")
    active: bool = Field(default=True, description="Whether this schedule creates runs.")
    id: UUID | None = Field(default=None, description="The entry's id on the server.")

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        return _schedule_from_value(value)

    def to_data(self) -> dict[str, Any]:
        """JSON-ready data; ``id`` only when it has one."""
        data: dict[str, Any] = {"schedule": schedule_to_data(self.schedule), "active": self.active}
        if self.id is not None:
            data["id"] = str(self.id)
        return data


class Deployment(BaseModel):
    """A deployment's configuration: the fields of Prefect 2's deployment.yaml, plus ``catchup``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

    name: str = Field(description="The deployment's name, unique per flow.")
    description: str | None = Field(default=None, description="Shown in the UI and `inspect`.")
    version: str | None = Field(
        default=None, description="Any string (a number is kept as its text); `build` uses the flow file's md5."
    )
    work_queue_name: str | None = Field(default=None, description="The queue agents pick its runs from.")
    tags: list[str] = Field(default_factory=list, description="Tags given to its runs.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Default parameters of its runs.")
    schedule: Schedule | None = Field(default=None, description="When runs are created automatically.")
    schedules: list[DeploymentSchedule] = Field(
        default_factory=list, description="Several schedules; replaces the server's list when set."
    )
    is_schedule_active: bool = Field(default=True, description="Whether the schedule creates runs.")
    catchup: bool = Field(default=False, description="Create the runs missed while the scheduler was down.")
    max_lateness: int | None = Field(default=None, ge=0, description="Seconds after which a late run is skipped.")
    concurrency_limit: int | None = Field(default=None, ge=0, description="At most this many runs at once.")
    infra_overrides: dict[str, Any] = Field(
        default_factory=dict, description="Dot paths, e.g. env.KEY: value (or a list of 'env.KEY=value')."
    )
    infrastructure: InfrastructureBlock | None = Field(
        default=None, description="Default: an anonymous block of the type SLUICE_DEFAULT_INFRASTRUCTURE names."
    )
    flow_name: str | None = Field(default=None, description="The flow's name.")
    manifest_path: str | None = Field(default=None, description="Kept for Prefect 2 compatibility.")
    storage: StorageBlock | None = Field(default=None, description="Where the code is; None: the local path.")
    path: str | None = Field(default=None, description="Sub-path in storage, or the local folder.")
    entrypoint: str | None = Field(default=None, description="path/to/file.py:function relative to path.")
    parameter_openapi_schema: dict[str, Any] | None = Field(default=None, description="From the signature.")

    # -- validation of the typed fields -----------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _null_means_not_given(cls, data: Any) -> Any:
        # Prefect 2 writes `is_schedule_active: null` for "the default": leaving the field out keeps it
        # unset, so applying keeps the server's value (True for a new deployment), as Prefect does.
        if isinstance(data, dict) and any(data.get(name, False) is None for name in NULL_MEANS_DEFAULT):
            data = {key: value for key, value in data.items() if not (key in NULL_MEANS_DEFAULT and value is None)}
        return data

    @field_validator("name", "flow_name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and ("/" in value or not value.strip()):
            raise ValueError(f"{value!r} must be non-empty and contain no '/'")
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        return _schedule_from_value(value)

    @field_validator("schedules", mode="before")
    @classmethod
    def _schedules(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("infrastructure", mode="before")
    @classmethod
    def _infrastructure(cls, value: Any) -> Any:
        # no prefix of our own: the validation error already names the field
        return block_from_data("infrastructure", value, "") if isinstance(value, dict) else value

    @field_validator("storage", mode="before")
    @classmethod
    def _storage(cls, value: Any) -> Any:
        return block_from_data("storage", value, "") if isinstance(value, dict) else value

    @field_validator("parameter_openapi_schema", mode="before")
    @classmethod
    def _schema_nulls(cls, value: Any) -> Any:
        # Prefect 2 writes `required: null` and `definitions: null`; JSON schema wants a list and a dict
        if isinstance(value, dict):
            value = dict(value)
            for key, empty in (("required", []), ("definitions", {}), ("properties", {})):
                if key in value and value[key] is None:
                    value[key] = empty
        return value

    @field_validator("tags", "parameters", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return [] if info.field_name == "tags" else {}
        return value

    @field_validator("infra_overrides", mode="before")
    @classmethod
    def _overrides(cls, value: Any) -> Any:
        from sluice.deploy_build import overrides_from_value

        return overrides_from_value(value)  # also the list form: ["env.KEY=value"]

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # Prefect 2 stores version=1 as "1"; a YAML `version: 1.2` is a number too
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def build_from_flow(
        cls,
        flow: Any,
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
    ) -> Self:
        """Describe a deployment of ``flow``: its entrypoint, parameter schema and version computed.

        ``path`` is the folder the entrypoint is relative to (default: the current folder); with
        ``storage``, that folder is uploaded to it (unless ``skip_upload``) and ``path`` becomes the
        sub-path in storage. ``parameters`` are validated against the flow's signature first.
        ``follow_symlinks`` uploads a copy of what symlinks pointing outside the folder point to, which
        are refused otherwise.
        """
        from sluice.deploy_build import build_deployment

        return build_deployment(
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
            skip_upload=skip_upload,
            apply=apply,
            follow_symlinks=follow_symlinks,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        """Read a deployment.yaml (Sluice's or Prefect 2's); every field in the file counts as set."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(f"deployment file {str(file)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read deployment file {str(file)!r}: {exc}") from None
        data = parse_yaml(text, source=str(file))
        if not data.get("name"):
            raise ConfigurationError(f"{file}: the deployment needs a 'name'")
        if not data.get("flow_name"):
            raise ConfigurationError(f"{file}: the deployment needs a 'flow_name'")
        try:
            deployment = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigurationError(f"{file}: {format_validation_error(exc)}") from None
        try:
            deployment.check_schedules()
        except ConfigurationError as exc:
            raise ConfigurationError(f"{file}: {exc}") from None
        return deployment

    def to_data(self) -> dict[str, Any]:
        """Every field as JSON-ready data; blocks with their type slug (and document name when saved)."""
        data: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Block):
                value = block_to_data(value)
            elif isinstance(value, Schedule):
                value = schedule_to_data(value)
            elif isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            elif name == "schedules":
                value = [entry.to_data() for entry in value]
            data[name] = value
        if data.get("infrastructure") is None:
            data["infrastructure"] = block_to_data(default_infrastructure())
        return data

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The deployment as YAML in Prefect 2's layout; written to ``path`` when given.

        ``schedules``, ``max_lateness`` and ``concurrency_limit`` are written only when set
        explicitly or not empty, so that applying the file keeps the server's values.
        """
        data = self.to_data()
        explicit = self.explicit_fields()
        for name in OPTIONAL_YAML_FIELDS:
            if name not in explicit and data[name] in (None, []):
                del data[name]
        text = render_yaml(data, self.flow_name)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # -- the API ----------------------------------------------------------------------------------

    @property
    def full_name(self) -> str:
        """``flow-name/deployment-name``."""
        return f"{self.flow_name}/{self.name}"

    def explicit_fields(self) -> set[str]:
        """The fields set explicitly: given, read from a file, or assigned since."""
        return set(self.model_fields_set)

    def api_body(self, only_set: bool) -> dict[str, Any]:
        """The body sent to the API: every field, or (``only_set``) the explicitly set ones.

        Blocks are resolved to their saved documents; an unsaved storage block is an error, an
        unsaved infrastructure block is sent as anonymous data.
        """
        explicit = self.explicit_fields()
        data = self.to_data()
        body: dict[str, Any] = {}
        for name in API_FIELDS:
            if not only_set or name in explicit:
                body[name] = data[name]
        if "schedules" in explicit and "schedule" in body:
            del body["schedule"]  # the list decides; the server mirrors its first entry in `schedule`
        if not only_set or "storage" in explicit:
            body["storage_document_id"] = _document_id(self.storage, "storage")
        if not only_set or "infrastructure" in explicit:
            infrastructure = self.infrastructure or default_infrastructure()
            document_id = _document_id(infrastructure, "infrastructure", required=False)
            body["infrastructure_document_id"] = document_id
            # a saved block is referenced, never copied (its secrets stay in the block document)
            anonymous = {"type": infrastructure.block_type_slug, **infrastructure.data(include_secrets=True)}
            body["infrastructure"] = None if document_id else anonymous
        return body

    def check(self) -> None:
        """Validate what the API cannot: the parameters against the parameter schema, that
        ``schedule`` and ``schedules`` do not contradict each other, and that an unsaved
        infrastructure block holds no secret (the deployment would keep it in clear)."""
        self.check_schedules()
        if self.infrastructure is not None and self.infrastructure.document_name is None:
            _refuse_inline_secrets(self.infrastructure)
        if self.parameter_openapi_schema and self.parameters:
            check_parameters(self.parameters, self.parameter_openapi_schema)

    def check_schedules(self) -> None:
        """With both ``schedule`` and ``schedules`` set, ``schedule`` must be null or the first entry's."""
        explicit = self.explicit_fields()
        if "schedules" not in explicit or "schedule" not in explicit or self.schedule is None:
            return
        first = self.schedules[0].schedule if self.schedules else None
        if self.schedule != first:
            raise ConfigurationError(
                "'schedule' and 'schedules' disagree: 'schedules' replaces the whole list, so set "
                "'schedule' to null (or remove it), or remove 'schedules' to use the one schedule"
            )

    def apply(self, upload: bool = False, follow_symlinks: bool = False) -> UUID:
        """Create the deployment on the API, or update it in place; return its id.

        On an existing deployment only the explicitly set fields change. ``upload`` first uploads
        the current folder to the storage block (under ``path``), unless the block is read-only;
        ``follow_symlinks`` is passed on to ``upload``.
        """
        from sluice.client import get_client

        if not self.flow_name:
            raise ConfigurationError(f"deployment {self.name!r} has no flow_name")
        self.check()
        if upload and (self.storage is None or _takes_uploads(self.storage)):
            # a read-only block (github) is pushed to with git, never uploaded to
            self.upload(follow_symlinks=follow_symlinks)
        with get_client() as client:
            existing = _read_or_none(client, self.full_name)
            body = self.api_body(only_set=existing is not None)
            if existing is None:
                return client.create_deployment(name=self.name, flow_name=self.flow_name, **body).id
            client.update_deployment(existing.id, **body)
            return existing.id

    def upload(self, local_path: str | Path = ".", progress: Any = None, follow_symlinks: bool = False) -> int:
        """Upload ``local_path`` to the storage block under ``path``; return the number of files.

        A saved block is used as it is saved on the server, secrets included: one read from a
        deployment.yaml carries them masked, and runs read the code through the saved block anyway.
        A symlink pointing outside ``local_path`` is refused (``ConfigurationError``, nothing uploaded)
        unless ``follow_symlinks`` asks for a copy of what it points to.
        """
        from sluice.deploy_build import upload_files

        if self.storage is None:
            raise ConfigurationError(f"deployment {self.full_name!r} has no storage block to upload to")
        return upload_files(with_saved_secrets(self.storage), local_path, self.path, progress, follow_symlinks)

    def load(self) -> bool:
        """Fill the fields not given from the deployment ``flow_name/name`` on the API.

        Returns True when it was found, False (changing nothing) when there is none, as Prefect 2's
        ``Deployment.load`` does. The fields loaded are not counted as set: edit some, then
        ``apply()`` changes only those.
        """
        from sluice.client import get_client

        if not self.flow_name:
            raise ConfigurationError("Deployment.load() needs flow_name and name")
        with get_client() as client:
            remote = _read_or_none(client, self.full_name)
            if remote is None:
                return False
            data = deployment_data_from_api(client, remote)
        explicit = self.explicit_fields() - {"name", "flow_name"}
        current = {name: getattr(self, name) for name in explicit}
        loaded = type(self).model_validate({**data, **current})
        for name in type(self).model_fields:
            object.__setattr__(self, name, getattr(loaded, name))
        object.__setattr__(self, "__pydantic_fields_set__", {"name", "flow_name", *explicit})
        return True


def _takes_uploads(storage: StorageBlock) -> bool:
    from sluice.deploy_build import takes_uploads

    return takes_uploads(storage)


def with_saved_secrets(block: BlockT) -> BlockT:
    """The saved block ``block`` stands for, loaded from the API with its secrets; an unsaved one as it is.

    Blocks read from a deployment.yaml (Sluice's or Prefect 2's) or from the API carry their secrets
    masked; Prefect 2's ``load_from_yaml`` reloads saved blocks from the server the same way.
    """
    if block.document_name is None:
        return block
    return type(block).load(block.document_name)


def default_infrastructure() -> InfrastructureBlock:
    """An anonymous block of the type ``SLUICE_DEFAULT_INFRASTRUCTURE`` names: the infrastructure of a
    deployment that names none.

    A type that is not installed raises ``UnknownSlugError`` saying so, what is installed, and to
    install a plugin that provides it or set ``SLUICE_DEFAULT_INFRASTRUCTURE`` to an installed type.
    """
    from sluice.errors import UnknownSlugError
    from sluice.plugins import get_registry
    from sluice.settings import get_settings

    slug = get_settings().default_infrastructure
    try:
        cls = get_registry("infrastructure").get(slug)
    except UnknownSlugError as exc:
        raise UnknownSlugError(
            f"{str(exc).rstrip('.')}. It is the default infrastructure type (SLUICE_DEFAULT_INFRASTRUCTURE), "
            "used when a deployment names none: set it to an installed type, or give one with -i/-ib."
        ) from None
    return cls()


def block_to_data(block: Block) -> dict[str, Any]:
    """A block as it is written in deployment.yaml: its type, its fields, and its document when saved."""
    slug = block.block_type_slug
    saved = block.document_name is not None
    data: dict[str, Any] = {}
    if isinstance(block, InfrastructureBlock):
        data["type"] = slug
    data.update(block.data(include_secrets=not saved))
    if saved:
        data["_block_document_id"] = str(block.document_id) if block.document_id else None
        data["_block_document_name"] = block.document_name
    data["_block_type_slug"] = slug
    return data


def block_from_data(kind: str, value: dict[str, Any], what: str) -> Block:
    """Build a block from deployment.yaml data (Sluice's or Prefect 2's layout); errors start with ``what``."""
    from sluice.plugins import get_registry

    slug, fields, meta = split_block_data(value, what)
    cls = get_registry(kind).get(slug)
    if "type" not in cls.model_fields:
        fields.pop("type", None)
    if kind == "infrastructure" and fields.get("command") in PREFECT_ENGINE_COMMANDS:
        fields["command"] = None  # Prefect's engine command: Sluice starts its own engine
    for key in [key for key, item in fields.items() if key not in cls.model_fields and item is None]:
        fields.pop(key)  # a Prefect field left at its default means nothing here
    try:
        block = cls.from_data(fields)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{what}: {exc}" if what else str(exc)) from None
    name = meta.get("_block_document_name")
    if name and not meta.get("_is_anonymous"):
        block._block_document_name = str(name)
        document_id = meta.get("_block_document_id")
        block._block_document_id = UUID(str(document_id)) if document_id else None
    return block


def _refuse_inline_secrets(block: Block) -> None:
    """Refuse an unsaved block that holds a secret: the deployment would store it in clear.

    Only saved blocks keep their secrets encrypted (a registry password, a kubeconfig), so such a
    block must be saved first and referenced by name.
    """
    from sluice.server.secret_paths import get_path

    data = block.data(include_secrets=True)
    held = [path for path in block.secret_fields() if get_path(data, path) not in (None, "", {}, [])]
    if held:
        slug = block.block_type_slug
        raise ConfigurationError(
            f"the {slug} infrastructure holds the secret {held[0]!r}: save the block first "
            f"(`sluice block create {slug} NAME ...` or block.save(NAME)) and use {slug}/NAME, "
            "so the secret is stored encrypted rather than in the deployment"
        )


def _document_id(block: Block | None, what: str, required: bool = True) -> UUID | None:
    """The id of a saved block on this API, looked up by type and name."""
    if block is None:
        return None
    if block.document_name is None:
        if required:
            raise ConfigurationError(
                f"the {what} block must be saved first: `sluice block create {block.block_type_slug} NAME`, "
                f"then use {block.block_type_slug}/NAME"
            )
        return None
    from sluice.client import get_client

    with get_client() as client:
        document = client.read_block_document_by_name(block.block_type_slug, block.document_name)
    return document.id


def check_parameters(parameters: dict[str, Any], schema: dict[str, Any]) -> None:
    """Validate parameters against a parameter schema; unknown and ill-typed ones raise ``ParameterError``."""
    import jsonschema

    from sluice.parameters import extra_keywords_parameter

    properties = schema.get("properties") or {}
    takes_kwargs = extra_keywords_parameter(schema) is not None
    unknown = [name for name in parameters if name not in properties]
    if unknown and not takes_kwargs:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(the flow's parameters: {', '.join(properties) or 'none'})"
        )
    checked = {**schema, "required": []}  # the flow's defaults fill in what a run does not give
    checked["definitions"] = schema.get("definitions") or {}
    validator = jsonschema.Draft7Validator(checked)
    errors = sorted(validator.iter_errors(parameters), key=lambda error: list(error.path))
    if errors:
        parts = []
        for error in errors:
            name = error.path[0] if error.path else "?"
            where = ".".join(str(item) for item in list(error.path)[1:])
            parts.append(f"parameter {name!r}{f' ({where})' if where else ''}: {error.message}")
        raise ParameterError("invalid parameters: " + "; ".join(parts))


def _read_or_none(client: Any, full_name: str) -> Any:
    try:
        return client.read_deployment_by_name(full_name)
    except ObjectNotFound:
        return None


def read_deployment(client: Any, full_name: str) -> Any:
    """The API deployment ``flow/name``; a missing one raises ``ObjectNotFound`` saying how to list them."""
    if "/" not in full_name:
        raise ConfigurationError(f"invalid deployment name {full_name!r}: use 'flow-name/deployment-name'")
    try:
        return client.read_deployment_by_name(full_name)
    except ObjectNotFound:
        raise ObjectNotFound(
            f"deployment {full_name!r} not found (see `sluice deployment ls` for the deployments there are)"
        ) from None


def deployment_data_from_api(client: Any, remote: Any) -> dict[str, Any]:
    """The deployment.yaml fields of an API deployment, with its saved blocks loaded."""
    data = {name: getattr(remote, name, None) for name in API_FIELDS}
    data["schedules"] = [entry.model_dump() for entry in remote.schedules or ()]
    data["name"] = remote.name
    data["flow_name"] = remote.flow_name
    if remote.storage_document_id:
        data["storage"] = _load_block(client, "storage", remote.storage_document_id)
    if remote.infrastructure_document_id:
        data["infrastructure"] = _load_block(client, "infrastructure", remote.infrastructure_document_id)
    elif remote.infrastructure:
        data["infrastructure"] = remote.infrastructure
    return data


def _load_block(client: Any, kind: str, document_id: UUID) -> Block:
    from sluice.plugins import get_registry

    document = client.read_block_document(document_id, include_secrets=True)
    block = get_registry(kind).get(document.block_type_slug).from_data(document.data)
    block._block_document_id = document.id
    block._block_document_name = document.name
    return block


def run_deployment(
    name: str,
    parameters: dict[str, Any] | None = None,
    timeout: float | None = None,
    scheduled_time: datetime | None = None,
    tags: list[str] | None = None,
    flow_run_name: str | None = None,
    poll_interval: float = 0.5,
) -> Any:
    """Create a run of the deployment ``flow/name`` and return it (a ``sluice.schemas.FlowRun``).

    ``parameters`` are merged over the deployment's defaults and checked against its schema.
    ``scheduled_time`` (default: now) is when an agent may start it. With ``timeout`` (seconds),
    waits until the run reaches a terminal state or the timeout passes, polling the API, and
    returns the run as it is then; without one, returns at once.
    """
    from sluice.client import get_client
    from sluice.schemas import StateCreate

    with get_client() as client:
        deployment = read_deployment(client, name)
        if parameters and deployment.parameter_openapi_schema:
            check_parameters(parameters, deployment.parameter_openapi_schema)
        options: dict[str, Any] = {}
        if scheduled_time is not None:
            options["state"] = StateCreate(type="SCHEDULED", scheduled_time=_utc(scheduled_time))
        if tags:
            options["tags"] = list(tags)
        if flow_run_name:
            options["name"] = flow_run_name
        run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters or {}, **options)
        if not timeout:
            return run
        return wait_for_flow_run(client, run.id, timeout, poll_interval)


def wait_for_flow_run(client: Any, flow_run_id: UUID, timeout: float, poll_interval: float = 0.5) -> Any:
    """Poll the run until it is in a terminal state or ``timeout`` seconds passed; return it."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(flow_run_id)
        if run.state is not None and run.state.is_terminal:
            return run
        if time.monotonic() >= deadline:
            return run
        time.sleep(min(poll_interval, max(deadline - time.monotonic(), 0.01)))


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
