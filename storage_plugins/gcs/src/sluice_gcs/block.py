"""``GCS``: a deployment's files kept in a Google Cloud Storage bucket."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr, field_validator

from sluice.storage import FsspecStorageBlock

if TYPE_CHECKING:  # pragma: no cover
    from fsspec import AbstractFileSystem


class GCS(FsspecStorageBlock):
    """Store deployment files in a Google Cloud Storage bucket.

    ``bucket_path`` is ``bucket`` or ``bucket/prefix``. ``service_account_info`` is the JSON key of a
    service account; without it the default Google credentials are used, or anonymous access when
    ``endpoint_url`` points at an emulator such as fake-gcs-server.
    """

    block_type_slug: ClassVar[str] = "gcs"
    block_type_name: ClassVar[str | None] = "GCS"
    required_library: ClassVar[str | None] = "gcsfs"
    install_hint: ClassVar[str | None] = "pip install sluice-gcs"
    object_store: ClassVar[bool] = True

    bucket_path: str
    service_account_info: SecretStr | None = None
    project: str | None = None
    endpoint_url: str | None = None

    @field_validator("bucket_path")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        value = value.removeprefix("gs://").removeprefix("gcs://").strip("/")
        if not value:
            raise ValueError("bucket_path needs at least a bucket name, e.g. 'my-bucket/flows'")
        return value

    @field_validator("service_account_info")
    @classmethod
    def _valid_json(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            try:
                info = json.loads(value.get_secret_value())
            except ValueError:
                raise ValueError("service_account_info must be the JSON key of a service account") from None
            if not isinstance(info, dict):
                raise ValueError("service_account_info must be a JSON object")
        return value

    def _token(self) -> Any:
        if self.service_account_info is not None and self.service_account_info.get_secret_value():
            return json.loads(self.service_account_info.get_secret_value())
        return "anon" if self.endpoint_url else None

    def open_filesystem(self) -> AbstractFileSystem:
        """A ``gcsfs.GCSFileSystem`` with this block's credentials, project and endpoint."""
        if self.endpoint_url:
            # The plain class: gcsfs's default one first asks for bucket features that emulators do not
            # serve, and stalls for minutes on each call.
            from gcsfs.core import GCSFileSystem
        else:
            from gcsfs import GCSFileSystem

        # gcsfs logs a full traceback when it gives up; the StorageError we raise says it in one line.
        logging.getLogger("gcsfs").addHandler(logging.NullHandler())
        return GCSFileSystem(
            project=self.project,
            token=self._token(),
            endpoint_url=self.endpoint_url,
            skip_instance_cache=True,
        )

    def base_path(self) -> str:
        """``bucket/prefix``."""
        return self.bucket_path

    def display_url(self) -> str:
        """``gs://bucket/prefix``."""
        return f"gs://{self.bucket_path}"
