"""``S3``: a deployment's files kept in an S3 bucket, or any S3-compatible store (SeaweedFS, MinIO…)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr, field_validator

from sluice.storage import FsspecStorageBlock

if TYPE_CHECKING:  # pragma: no cover
    from fsspec import AbstractFileSystem


class S3(FsspecStorageBlock):
    """Store deployment files in an S3 bucket (or an S3-compatible service via ``endpoint_url``).

    ``bucket_path`` is ``bucket`` or ``bucket/prefix``. Without keys, the usual AWS credential chain
    (environment, ``~/.aws``, instance role) is used.
    """

    block_type_slug: ClassVar[str] = "s3"
    block_type_name: ClassVar[str | None] = "S3"
    required_library: ClassVar[str | None] = "s3fs"
    install_hint: ClassVar[str | None] = "pip install sluice-s3"
    object_store: ClassVar[bool] = True

    bucket_path: str
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    endpoint_url: str | None = None
    region_name: str | None = None

    @field_validator("bucket_path")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        value = value.removeprefix("s3://").strip("/")
        if not value:
            raise ValueError("bucket_path needs at least a bucket name, e.g. 'my-bucket/flows'")
        return value

    def open_filesystem(self) -> AbstractFileSystem:
        """An ``s3fs.S3FileSystem`` with this block's credentials, endpoint and region."""
        import s3fs

        client_kwargs: dict[str, Any] = {}
        if self.endpoint_url:
            client_kwargs["endpoint_url"] = self.endpoint_url
        if self.region_name:
            client_kwargs["region_name"] = self.region_name
        secret = self.aws_secret_access_key.get_secret_value() if self.aws_secret_access_key else None
        return s3fs.S3FileSystem(
            key=self.aws_access_key_id,
            secret=secret,
            client_kwargs=client_kwargs,
            # Fail within seconds on an unreachable host instead of retrying for minutes.
            config_kwargs={"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}},
            skip_instance_cache=True,
        )

    def base_path(self) -> str:
        """``bucket/prefix``."""
        return self.bucket_path

    def display_url(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket_path}"
