"""Blocks: typed, named, saved configuration — where code is stored, how runs are started.

A block type is a pydantic model with a ``block_type_slug`` (``s3``, ``process``…). A block
document is a saved instance with a name; it is addressed as ``type-slug/name`` and, for storage,
``type-slug/name/sub/path``. Fields declared ``SecretStr`` are secret: stored encrypted by the
server and shown masked.

A field annotated with ``BlockReference`` holds another block, or a reference ``type-slug/name``
to a saved one (a Docker container block's ``image_registry: "docker-registry/prod"``). The parent
document stores the reference, never a copy of the referenced block's secrets; the reference is
looked up on the API when the parent is built from data (``from_data``, ``load``, deployment.yaml),
given overrides, saved, or run.

Concrete types come from plugins (``register_storage_blocks``, ``register_infrastructure_blocks``);
this module holds only the base classes and the machinery they share.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr, ValidationError

from sluice.errors import ConfigurationError, ObjectNotFound

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic_core import CoreSchema

MASK = "********"
# The one word list of names whose values are secrets: settings keys of storage blocks, environment
# variables of infrastructure, dot paths of a deployment's infra_overrides.
_SECRET_NAME = re.compile(r"key|secret|password|passwd|passphrase|token|connection_string|credential", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    """True for a name whose value must be masked: it holds ``key``, ``secret``, ``password``,
    ``passwd``, ``passphrase``, ``token``, ``connection_string`` or ``credential``, in any case
    (``AWS_SECRET_ACCESS_KEY``, ``api_key``, ``GITHUB_TOKEN``)."""
    return bool(_SECRET_NAME.search(name))


_output_lock = threading.Lock()

#: ``progress(done, total)`` — called as files are transferred; ``total`` may be 0 when unknown.
Progress = Callable[[int, int], None]


class Block(BaseModel):
    """Base of every block type.

    Subclasses set ``block_type_slug`` (unique across plugins) and may set ``block_type_name``
    (shown in the UI; default: the class name) and ``block_capabilities`` (what the core may ask of
    the block: a storage block without ``put-directory`` is read-only, and ``build`` never uploads to
    it), and declare secret fields as ``SecretStr``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    block_type_slug: ClassVar[str]
    block_type_name: ClassVar[str | None] = None
    #: Extra capabilities shown to users and checked by the core, e.g. ``("put-directory",)``.
    block_capabilities: ClassVar[tuple[str, ...]] = ()

    _block_document_id: UUID | None = PrivateAttr(default=None)
    _block_document_name: str | None = PrivateAttr(default=None)

    # -- description ---------------------------------------------------------------------------

    @classmethod
    def display_name(cls) -> str:
        """The human name of the block type."""
        return cls.block_type_name or cls.__name__

    @classmethod
    def description(cls) -> str:
        """The first paragraph of the class docstring."""
        return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")

    @classmethod
    def secret_fields(cls) -> list[str]:
        """Paths of the fields declared as ``SecretStr`` (or ``SecretStr | None``).

        A secret inside a nested model is a dotted path: ``image_registry.password``. The server
        encrypts every value found at these paths and masks it in answers.
        """
        return secret_paths(cls)

    @classmethod
    def block_schema(cls) -> dict[str, Any]:
        """The schema the server stores for this type: JSON schema, secret fields and a checksum."""
        schema = cls.model_json_schema()
        body = {
            "fields": schema,
            "secret_fields": cls.secret_fields(),
            "capabilities": list(cls.block_capabilities),
        }
        checksum = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return {**body, "checksum": f"sha256:{checksum}"}

    # -- data ----------------------------------------------------------------------------------

    def data(self, include_secrets: bool = False) -> dict[str, Any]:
        """The block's fields as JSON; secrets masked unless ``include_secrets``."""
        # Walk the model alongside its JSON dump so secrets inside nested models (a Docker
        # registry's password) are revealed or masked the same way as top-level ones.
        return _secrets_shown(self, self.model_dump(mode="json"), include_secrets, top=True)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        """Build the block from its JSON form; an invalid field raises ``ConfigurationError``.

        References to saved blocks (``image_registry: docker-registry/prod``) are loaded from the
        API; a missing one raises ``ConfigurationError`` saying how to create it.
        """
        try:
            block = cls.model_validate(dict(data))
        except ValidationError as exc:
            from sluice.schedules import format_validation_error

            raise ConfigurationError(f"invalid {cls.block_type_slug} block: {format_validation_error(exc)}") from None
        return resolve_block_references(block)

    # -- persistence ---------------------------------------------------------------------------

    @property
    def document_name(self) -> str | None:
        """The name this block was saved or loaded under, if any."""
        return self._block_document_name

    @property
    def document_id(self) -> UUID | None:
        """The id of the saved block document, if any."""
        return self._block_document_id

    def slug_label(self) -> str:
        """``type/name`` for a saved block (as a deployment names it), else the type slug alone."""
        name = self.document_name
        return f"{self.block_type_slug}/{name}" if name else self.block_type_slug

    def save(self, name: str, overwrite: bool = False) -> UUID:
        """Save this block as a document named ``name`` on the API; returns its id.

        An existing document of the same type and name is an ``ObjectAlreadyExists`` error unless
        ``overwrite``. A block referenced by name must exist (``ConfigurationError`` otherwise); it is
        saved as the reference, not copied.
        """
        from sluice.client import get_client

        self.resolved()  # a reference to a block that does not exist fails here, before anything is saved
        with get_client() as client:
            document = client.save_block(self, name, overwrite=overwrite)
        self._block_document_id = document.id
        self._block_document_name = name
        return document.id

    @classmethod
    def load(cls, name: str) -> Self:
        """Load the document ``name`` of this block type from the API, secrets included."""
        from sluice.client import get_client

        with get_client() as client:
            document = client.read_block_document_by_name(cls.block_type_slug, name, include_secrets=True)
        block = cls.from_data(document.data)
        block._block_document_id = document.id
        block._block_document_name = name
        return block

    def resolved(self) -> Self:
        """A copy whose references to saved blocks (``"docker-registry/prod"``) are loaded from the API.

        A block without references is returned as it is, without asking the API anything.
        """
        if not any(isinstance(getattr(self, name), str) for name in block_reference_fields(type(self))):
            return self
        return resolve_block_references(self.model_copy())

    # -- overrides -----------------------------------------------------------------------------

    def with_overrides(self, overrides: Mapping[str, Any]) -> Self:
        """A copy with dot-path overrides applied: ``{"env.KEY": "value", "image": "x"}``.

        The first segment must be a field of the block; an unknown one raises
        ``ConfigurationError`` naming it. A string value that the field does not accept is tried
        again as JSON (``customizations='[...]'``).
        """
        overrides = dict(overrides)
        try:
            return self._apply_overrides(overrides)
        except ValidationError as exc:
            failing = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
            decoded = {
                path: _maybe_json(value) if str(path).split(".")[0] in failing else value
                for path, value in overrides.items()
            }
            if decoded == overrides:
                raise self._override_error(exc) from None
        try:
            return self._apply_overrides(decoded)
        except ValidationError as exc:
            raise self._override_error(exc) from None

    def _apply_overrides(self, overrides: Mapping[str, Any]) -> Self:
        data = self.data(include_secrets=True)
        references = block_reference_fields(type(self))
        for path, value in overrides.items():
            head, *rest = str(path).split(".")
            if head not in type(self).model_fields:
                known = ", ".join(sorted(type(self).model_fields))
                raise ConfigurationError(
                    f"override {path!r}: {self.block_type_slug} blocks have no field {head!r} (fields: {known})"
                )
            current = getattr(self, head)
            if rest and head in references and current is not None and not isinstance(data[head], dict):
                # Overriding a field of a referenced block overrides a copy of it, for this run only.
                loaded = current if isinstance(current, Block) else references[head].load(current, head)
                data[head] = loaded.resolved().data(include_secrets=True)
            data = with_path_set(data, [head, *rest], value)
        result = type(self).model_validate(data)
        for name in references:
            kept = getattr(self, name)
            if isinstance(kept, Block) and getattr(result, name) == block_reference_of(kept):
                setattr(result, name, kept)  # already loaded: no need to ask the API again
        result = resolve_block_references(result)
        result._block_document_id = self._block_document_id
        result._block_document_name = self._block_document_name
        return result

    def _override_error(self, exc: ValidationError) -> ConfigurationError:
        from sluice.schedules import format_validation_error

        reason = format_validation_error(exc)
        return ConfigurationError(f"invalid override for the {self.block_type_slug} block: {reason}")


def with_path_set(data: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at ``path`` (dict keys), missing or non-dict levels made dicts."""
    head, *rest = path
    result = dict(data)
    if not rest:
        result[head] = value
        return result
    child = result.get(head)
    result[head] = with_path_set(child if isinstance(child, dict) else {}, rest, value)
    return result


def secret_paths(model: type[BaseModel], prefix: str = "", seen: frozenset[type] = frozenset()) -> list[str]:
    """The dotted paths of the ``SecretStr`` fields of ``model`` and of the models nested in it."""
    paths = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        candidates = (annotation, *(getattr(annotation, "__args__", ()) or ()))
        if SecretStr in candidates:
            paths.append(prefix + name)
            continue
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate not in seen:
                # A nested block may declare more secrets than its SecretStr fields (a whole kubeconfig).
                nested = (
                    candidate.secret_fields()
                    if issubclass(candidate, Block)
                    else secret_paths(candidate, "", seen | {model})
                )
                paths.extend(f"{prefix}{name}.{path}" for path in nested)
    return paths


def _secrets_shown(value: Any, dumped: Any, include_secrets: bool, top: bool = False) -> Any:
    """``dumped`` (the JSON dump of ``value``) with every ``SecretStr`` revealed or masked."""
    if isinstance(value, SecretStr):
        return value.get_secret_value() if include_secrets else MASK
    if isinstance(value, Block) and not isinstance(dumped, dict):
        return dumped  # a saved block another one references, written as its reference 'type/name'
    if isinstance(value, Block) and not include_secrets and not top:
        return value.data()  # a nested block masks the way it does alone (a kubeconfig's tokens)
    if isinstance(value, BaseModel) and isinstance(dumped, dict):
        return {
            key: _secrets_shown(getattr(value, key), item, include_secrets) if key in type(value).model_fields else item
            for key, item in dumped.items()
        }
    if isinstance(value, dict) and isinstance(dumped, dict):
        return {key: _secrets_shown(value.get(key), item, include_secrets) for key, item in dumped.items()}
    if isinstance(value, list | tuple) and isinstance(dumped, list) and len(value) == len(dumped):
        return [_secrets_shown(original, item, include_secrets) for original, item in zip(value, dumped, strict=True)]
    return dumped


def _maybe_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class StorageBlock(Block):
    """Base of storage block types: a place a deployment's files are uploaded to and pulled from.

    Paths given to these methods are relative to the block's own base path; a path that escapes it
    (``..`` or absolute) is refused with ``ValueError``.
    """

    block_capabilities: ClassVar[tuple[str, ...]] = ("get-directory", "put-directory", "read-path", "write-path")

    @abstractmethod
    def put_directory(
        self,
        local_path: str | Path = ".",
        to_path: str | None = None,
        ignore_file: str | Path | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
    ) -> int:
        """Upload the tree at ``local_path`` under ``to_path``; return the number of files uploaded.

        Files matching the patterns of ``ignore_file`` (gitignore syntax) are left out, and so are
        ``.git``, ``__pycache__`` and virtual environments, always. A symbolic link pointing outside
        ``local_path`` is refused unless ``follow_symlinks`` (``sluice.ignore.plan_upload`` lists the
        files and applies these rules).
        """

    @abstractmethod
    def get_directory(self, from_path: str | None = None, local_path: str | Path = ".") -> None:
        """Download the tree under ``from_path`` into ``local_path``."""

    @abstractmethod
    def read_path(self, path: str) -> bytes:
        """The content of one file."""

    @abstractmethod
    def write_path(self, path: str, content: bytes) -> str:
        """Write one file; return its full path or URL."""


#: The module the engine runs as: ``python -m sluice.engine``.
ENGINE_MODULE = "sluice.engine"


def engine_command(python: str | None = None) -> list[str]:
    """The command that runs a flow run's engine: ``[python, "-m", "sluice.engine"]``.

    :param python: the interpreter; default ``sys.executable``, the one the agent runs on, which has
        Sluice installed (a bare ``python`` on the PATH may not). Give ``"python"`` for an image's own.
    """
    return [python or sys.executable, "-m", ENGINE_MODULE]


class InfrastructureResult(BaseModel):
    """How a flow run's infrastructure ended: its identifier and exit code."""

    identifier: str
    status_code: int


class InfrastructureBlock(Block):
    """Base of infrastructure block types: how a flow run's engine is started.

    The agent copies the block for each run with ``prepare_for_flow_run`` (which sets the run's
    environment and labels), applies the deployment's ``infra_overrides``, then calls ``run`` in a
    thread of its own.
    """

    env: dict[str, str | None] = {}
    labels: dict[str, str] = {}
    name: str | None = None
    command: list[str] | None = None
    stream_output: bool = True

    def default_command(self) -> list[str]:
        """The command that starts the engine when ``command`` is unset: ``engine_command()``, the
        engine run by the agent's own interpreter.

        A block whose engine runs elsewhere (in a container image) overrides it, typically with
        ``engine_command("python")``: the image's interpreter.
        """
        return engine_command()

    def write_output(self, line: str) -> None:
        """Write one line of the engine's output to the agent's stdout, prefixed with the run name.

        Used by blocks with ``stream_output``; lines from runs in other threads never interleave.
        """
        prefix = self.name or self.block_type_slug
        with _output_lock:
            sys.stdout.write(f"{prefix} | {line.rstrip(chr(10))}\n")
            sys.stdout.flush()

    def prepare_for_flow_run(
        self,
        flow_run_id: UUID | str,
        flow_run_name: str | None = None,
        deployment_id: UUID | str | None = None,
        flow_id: UUID | str | None = None,
        flow_name: str | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
    ) -> Self:
        """A copy set up for one flow run: its id, the API to report to, labels and a name."""
        env = {"SLUICE__FLOW_RUN_ID": str(flow_run_id)}
        if api_url:
            env["SLUICE_API_URL"] = api_url
        if api_key:
            env["SLUICE_API_KEY"] = api_key
        labels = {"sluice.io/flow-run-id": str(flow_run_id)}
        if flow_run_name:
            labels["sluice.io/flow-run-name"] = flow_run_name
        if deployment_id:
            labels["sluice.io/deployment-id"] = str(deployment_id)
        if flow_id:
            labels["sluice.io/flow-id"] = str(flow_id)
        if flow_name:
            labels["sluice.io/flow-name"] = flow_name
        return self.model_copy(
            update={
                "env": {**env, **self.env},
                "labels": {**labels, **self.labels},
                "name": self.name or flow_run_name,
                "command": self.command or self.default_command(),
            }
        )

    @abstractmethod
    def run(self, on_started: Callable[[str], None] | None = None) -> InfrastructureResult:
        """Start the infrastructure and wait for it to end.

        ``on_started(identifier)`` is called once it has started, with an identifier that ``kill``
        accepts (a PID, a container id, a ``namespace:job`` name). Blocks until the engine exits.
        """

    @abstractmethod
    def kill(self, identifier: str, grace_seconds: float = 30) -> None:
        """Stop the infrastructure ``identifier``: ask politely, then force after ``grace_seconds``."""

    @abstractmethod
    def preview(self) -> str:
        """What would be run, for humans: a command line, a ``docker run``, a Job manifest."""


def parse_block_slug(slug: str) -> tuple[str, str, str | None]:
    """Split ``type/name[/path]`` into its parts; anything else raises ``ConfigurationError``."""
    parts = slug.strip().strip("/").split("/", 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise ConfigurationError(
            f"invalid block slug {slug!r}: use 'block-type/block-name' or 'block-type/block-name/sub/path' "
            "(the types: `sluice block type ls`)"
        )
    return parts[0], parts[1], (parts[2] if len(parts) == 3 and parts[2] else None)


#: The registries a block type slug is looked up in, in this order.
BLOCK_KINDS = ("storage", "infrastructure", "supporting")


def get_block_class(slug: str) -> type[Block]:
    """The block class for a type slug, among storage, infrastructure and supporting types.

    An unknown slug raises ``UnknownSlugError`` saying what is installed (or which other kind the
    slug is, a schedule type for one).
    """
    from sluice.errors import UnknownSlugError
    from sluice.plugins import get_plugin_manager, unknown_slug_message

    manager = get_plugin_manager()
    for kind in BLOCK_KINDS:
        found = manager.registry(kind).find(slug)  # a slug two plugins claim raises, naming both
        if found is not None:
            return found
    raise UnknownSlugError(unknown_slug_message(BLOCK_KINDS, slug, manager))


@dataclass(frozen=True)
class BlockReference:
    """Field metadata: the field holds a ``block_class`` block, or a reference to a saved one.

    ``image_registry: Annotated[DockerRegistry | str | None, BlockReference(DockerRegistry)] = None``
    accepts a ``DockerRegistry``, its fields as a dict, or ``"docker-registry/prod"``: the saved
    document ``prod`` of that type. A reference to another type is a validation error. The string
    stays as it is until the block is built from data, saved or run (``resolve_block_references``).
    A block that was saved or loaded is written out as its reference, so a parent document never
    holds a copy of the referenced block's secrets and sees it change when it is saved again.
    """

    block_class: type[Block]

    @property
    def slug(self) -> str:
        """The type slug a reference must name."""
        return self.block_class.block_type_slug

    def check(self, reference: str) -> str:
        """``reference`` as ``type/name`` when it names a block of this type; ``ValueError`` otherwise."""
        parts = reference.strip().strip("/").split("/")
        if len(parts) != 2 or not all(part.strip() for part in parts):
            raise ValueError(
                f"{reference!r} is not a reference to a saved block: use '{self.slug}/<name>' "
                f"(save one with `sluice block create {self.slug} <name> ...`)"
            )
        slug, name = (part.strip() for part in parts)
        if slug != self.slug:
            raise ValueError(
                f"{reference!r} names a {slug} block; this field takes a {self.slug} block: use '{self.slug}/<name>'"
            )
        return f"{slug}/{name}"

    def load(self, reference: str, field: str) -> Block:
        """The saved block ``reference`` names, secrets included; a missing one is a ``ConfigurationError``."""
        slug, name = self.check(reference).split("/")
        try:
            return self.block_class.load(name)
        except ObjectNotFound:
            raise ConfigurationError(
                f"{field}: no saved block {slug}/{name}; create it with `sluice block create {slug} {name} ...` "
                f"or {self.block_class.__name__}(...).save({name!r}) (see `sluice block ls --type {slug}`)"
            ) from None

    def _validate(self, value: Any, handler: Callable[[Any], Any]) -> Any:
        if isinstance(value, str):
            return self.check(value)
        if isinstance(value, Block) and not isinstance(value, self.block_class):
            raise ValueError(f"takes a {self.slug} block or '{self.slug}/<name>', not a {value.block_type_slug} block")
        return handler(value)

    def _serialize(self, value: Any, handler: Callable[[Any], Any]) -> Any:
        if isinstance(value, str):
            return value
        reference = block_reference_of(value) if isinstance(value, Block) else None
        return reference if reference is not None else handler(value)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """Validate a string as a reference and anything else as the block (or None)."""
        from pydantic_core import core_schema

        inner = core_schema.nullable_schema(handler.generate_schema(self.block_class))
        return core_schema.no_info_wrap_validator_function(
            self._validate,
            inner,
            serialization=core_schema.wrap_serializer_function_ser_schema(self._serialize, schema=inner),
        )

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        """The block's schema, or a string ``type/name`` naming a saved one."""
        block = handler(schema)
        options = list(block.get("anyOf", [block]))
        reference = {
            "type": "string",
            "title": f"Saved {self.block_class.display_name()}",
            "description": f"A saved {self.slug} block: '{self.slug}/<name>'.",
            "pattern": f"^{self.slug}/[^/]+$",
        }
        nulls = [option for option in options if option.get("type") == "null"]
        blocks = [option for option in options if option.get("type") != "null"]
        return {key: value for key, value in block.items() if key != "anyOf"} | {"anyOf": [*blocks, reference, *nulls]}


def block_reference_of(block: Block) -> str | None:
    """``type/name`` of a saved or loaded block, which is how a block referencing it stores it; else None."""
    return f"{block.block_type_slug}/{block.document_name}" if block.document_name else None


def block_reference_fields(cls: type[BaseModel]) -> dict[str, BlockReference]:
    """The fields of ``cls`` that may hold a reference to a saved block, with their ``BlockReference``."""
    return {
        name: marker
        for name, info in cls.model_fields.items()
        for marker in info.metadata
        if isinstance(marker, BlockReference)
    }


def resolve_block_references(block: Block) -> Any:
    """``block`` with each reference field that holds ``type/name`` set to the saved block, loaded.

    Changes ``block`` in place and returns it; a missing block raises ``ConfigurationError``.
    """
    for name, marker in block_reference_fields(type(block)).items():
        value = getattr(block, name)
        if isinstance(value, str):
            setattr(block, name, marker.load(value, name))
    return block
