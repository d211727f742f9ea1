"""``Azure``: a deployment's files kept in an Azure Blob Storage container."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import SecretStr, field_validator, model_validator

from sluice.storage import FsspecStorageBlock

if TYPE_CHECKING:  # pragma: no cover
    from fsspec import AbstractFileSystem


class Azure(FsspecStorageBlock):
    """Store deployment files in an Azure Blob Storage container.

    ``bucket_path`` is ``container`` or ``container/prefix``. Authenticate with a connection string,
    or with an account name and key; with only an account name, the default Azure credentials (managed
    identity, ``az login``) are used.
    """

    block_type_slug: ClassVar[str] = "azure"
    block_type_name: ClassVar[str | None] = "Azure"
    required_library: ClassVar[str | None] = "adlfs"
    install_hint: ClassVar[str | None] = "pip install sluice-azure"
    object_store: ClassVar[bool] = True

    bucket_path: str
    azure_storage_connection_string: SecretStr | None = None
    azure_storage_account_name: str | None = None
    azure_storage_account_key: SecretStr | None = None

    @field_validator("bucket_path")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        for scheme in ("az://", "abfs://", "abfss://"):
            value = value.removeprefix(scheme)
        value = value.strip("/")
        if not value:
            raise ValueError("bucket_path needs at least a container name, e.g. 'flows/prod'")
        return value

    @model_validator(mode="after")
    def _needs_an_account(self) -> Azure:
        if not self.azure_storage_connection_string and not self.azure_storage_account_name:
            raise ValueError("set azure_storage_connection_string, or azure_storage_account_name (and a key)")
        return self

    def open_filesystem(self) -> AbstractFileSystem:
        """An ``adlfs.AzureBlobFileSystem`` with this block's connection string or account key."""
        from adlfs import AzureBlobFileSystem

        connection_string = self.azure_storage_connection_string
        account_key = self.azure_storage_account_key
        return AzureBlobFileSystem(
            connection_string=connection_string.get_secret_value() if connection_string else None,
            account_name=self.azure_storage_account_name,
            account_key=account_key.get_secret_value() if account_key else None,
            anon=False,
            skip_instance_cache=True,
        )

    def base_path(self) -> str:
        """``container/prefix``."""
        return self.bucket_path

    def display_url(self) -> str:
        """``az://container/prefix``."""
        return f"az://{self.bucket_path}"
