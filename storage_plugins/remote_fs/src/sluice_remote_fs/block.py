"""``RemoteFileSystem``: a deployment's files kept at any fsspec URL (``s3://``, ``memory://``, ``smb://``…)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import field_validator

from sluice.storage import MASK, FsspecStorageBlock, mask_settings, secret_values_in, strip_userinfo

if TYPE_CHECKING:  # pragma: no cover
    from fsspec import AbstractFileSystem

# The Sluice plugin that brings the library for a protocol, for "install X" hints.
_PLUGIN_FOR_PROTOCOL = {
    "s3": "sluice-s3",
    "s3a": "sluice-s3",
    "gs": "sluice-gcs",
    "gcs": "sluice-gcs",
    "az": "sluice-azure",
    "abfs": "sluice-azure",
    "abfss": "sluice-azure",
    "smb": "sluice-smb",
}


#: fsspec protocols of object stores: no real folders, so none are made before a write (``makedirs`` on
#: s3fs would even create a missing bucket, hiding a typo).
_OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})


class RemoteFileSystem(FsspecStorageBlock):
    """Store deployment files at any URL fsspec understands.

    ``basepath`` is a URL such as ``s3://bucket/flows`` or ``memory://scratch``; ``settings`` are passed
    to the fsspec file system as keyword arguments (``{"key": ..., "secret": ..., "client_kwargs":
    {...}}``). Values of settings whose names look secret (key, secret, password, token,
    connection_string) are masked wherever the block is shown.
    """

    block_type_slug: ClassVar[str] = "remote-file-system"
    block_type_name: ClassVar[str | None] = "Remote File System"

    basepath: str
    settings: dict[str, Any] = {}

    @field_validator("basepath")
    @classmethod
    def _check_basepath(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(f"basepath {value!r} needs a scheme, e.g. 's3://bucket/path' or 'memory://name'")
        scheme, rest = value.split("://", 1)
        authority = rest.split("/", 1)[0]
        if "@" in authority and ":" in authority.rsplit("@", 1)[0]:
            # Only secret fields are stored encrypted; a URL is not one. Never echo the value here.
            user = authority.rsplit("@", 1)[0].split(":", 1)[0]
            host = authority.rsplit("@", 1)[1]
            raise ValueError(
                f"a password is not allowed in the URL: leave it out ({scheme}://{user}@{host}/...) and give it "
                "as settings.password (sluice block create ... --set-env settings.password=ENVVAR), which is "
                "stored encrypted"
            )
        return value

    @classmethod
    def secret_fields(cls) -> list[str]:
        """The declared secrets and ``settings``: it may hold keys and tokens, so the server keeps it
        encrypted whole (``data()`` still shows its harmless entries, masking only secret-looking keys)."""
        return [*super().secret_fields(), "settings"]

    @property
    def protocol(self) -> str:
        """The URL scheme of ``basepath``: ``s3``, ``memory``…"""
        return self.basepath.split("://", 1)[0].lower()

    def open_filesystem(self) -> AbstractFileSystem:
        """The fsspec file system for ``basepath``'s scheme, built with ``settings``."""
        from fsspec.registry import get_filesystem_class, known_implementations

        try:
            filesystem_class = get_filesystem_class(self.protocol)
        except ValueError:
            raise self.storage_error(
                f"no fsspec implementation for {self.protocol!r}:// (known: {', '.join(sorted(known_implementations))})"
            ) from None
        options = filesystem_class._get_kwargs_from_urls(self.basepath)
        return filesystem_class(**{**options, **self.settings, "skip_instance_cache": True})

    def base_path(self) -> str:
        """``basepath`` (fsspec strips the scheme itself)."""
        return self.basepath

    def display_url(self) -> str:
        """``basepath`` without any ``user:password@``."""
        return strip_userinfo(self.basepath)

    def creates_folders(self, filesystem: AbstractFileSystem) -> bool:
        """False when the URL's file system is an object store (``s3://``, ``gs://``, ``az://``…)."""
        protocols = filesystem.protocol if isinstance(filesystem.protocol, tuple | list) else (filesystem.protocol,)
        return not any(protocol in _OBJECT_STORE_PROTOCOLS for protocol in protocols)

    def missing_library_hint(self) -> str | None:
        """Which package brings the library for this URL's scheme."""
        plugin = _PLUGIN_FOR_PROTOCOL.get(self.protocol)
        return f"install it, e.g. `pip install {plugin}`" if plugin else None

    def secret_values(self) -> list[str]:
        """Secrets among ``settings`` and any password in ``basepath``."""
        values = secret_values_in(self.settings)
        if "@" in self.basepath.split("://", 1)[1].split("/", 1)[0]:
            userinfo = self.basepath.split("://", 1)[1].split("@", 1)[0]
            values.extend(part for part in userinfo.split(":")[1:] if part)
        return values

    def data(self, include_secrets: bool = False) -> dict[str, Any]:
        """The fields as JSON; secret-looking ``settings`` and a URL password masked unless asked."""
        data = super().data(include_secrets=include_secrets)
        if not include_secrets:
            data["settings"] = mask_settings(data.get("settings") or {})
            if self.display_url() != self.basepath:
                scheme, rest = self.basepath.split("://", 1)
                user = rest.split("@", 1)[0].split(":", 1)[0]
                data["basepath"] = f"{scheme}://{user}:{MASK}@{rest.split('@', 1)[1]}"
        return data

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "settings":
                yield name, mask_settings(value)
            elif name == "basepath":
                yield name, self.data()["basepath"]
            else:
                yield name, value
