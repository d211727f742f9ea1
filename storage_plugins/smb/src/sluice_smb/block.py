"""``SMB``: a deployment's files kept on an SMB/CIFS share (Windows, Samba, NAS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import SecretStr, field_validator, model_validator

from sluice.storage import FsspecStorageBlock

if TYPE_CHECKING:  # pragma: no cover
    from fsspec import AbstractFileSystem


class SMB(FsspecStorageBlock):
    """Store deployment files on an SMB share.

    ``share_path`` is ``//host/share/folder`` (or ``/share/folder`` with ``smb_host`` set; ``smb_host``
    wins when both name a host). ``smb_port`` defaults to 445.
    """

    block_type_slug: ClassVar[str] = "smb"
    block_type_name: ClassVar[str | None] = "SMB"
    required_library: ClassVar[str | None] = "smbclient"
    install_hint: ClassVar[str | None] = "pip install sluice-smb"

    share_path: str
    smb_username: str | None = None
    smb_password: SecretStr | None = None
    smb_host: str | None = None
    smb_port: int | None = None

    @field_validator("share_path")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return value.removeprefix("smb:").replace("\\", "/")

    @model_validator(mode="after")
    def _needs_host_and_share(self) -> SMB:
        if not self.host:
            raise ValueError("share_path must be '//host/share/folder', or set smb_host")
        if not self.share_and_folder:
            raise ValueError("share_path must name a share: '//host/share/folder'")
        return self

    @property
    def host(self) -> str | None:
        """The server: ``smb_host``, else the host named in ``share_path``."""
        if self.smb_host:
            return self.smb_host
        if self.share_path.startswith("//"):
            return self.share_path[2:].split("/", 1)[0] or None
        return None

    @property
    def share_and_folder(self) -> str:
        """``share/folder`` without the host."""
        path = self.share_path
        if path.startswith("//"):
            path = path[2:].split("/", 1)[1] if "/" in path[2:] else ""
        return path.strip("/")

    def open_filesystem(self) -> AbstractFileSystem:
        """fsspec's SMB file system, which passes the port on every call."""
        from fsspec.implementations.smb import SMBFileSystem

        password = self.smb_password.get_secret_value() if self.smb_password else None
        # smbclient keeps one pooled connection per host and port and reuses any session on it: drop
        # it first, so these credentials are the ones checked, not those of an earlier block.
        self._forget_connection()
        return SMBFileSystem(
            host=self.host,
            port=self.smb_port,
            username=self.smb_username,
            password=password,
            timeout=10,
            register_session_retries=0,
            skip_instance_cache=True,
        )

    def make_folders(self, filesystem: AbstractFileSystem, path: str) -> None:
        """Create ``path`` below the share; a missing share is an error (smbclient would loop forever)."""
        share = path.strip("/").split("/", 1)[0]
        if not filesystem.exists(f"/{share}"):
            raise self.storage_error(f"not found — the share {share!r} does not exist on {self.host}")
        filesystem.makedirs(path, exist_ok=True)

    def close_filesystem(self, filesystem: AbstractFileSystem) -> None:
        """Close the pooled connection, so no authenticated session outlives the call."""
        self._forget_connection()

    def _forget_connection(self) -> None:
        import smbclient

        smbclient.delete_session(self.host, port=self.smb_port or 445)

    def base_path(self) -> str:
        """``/share/folder``, as fsspec's SMB file system writes paths."""
        return f"/{self.share_and_folder}"

    def display_url(self) -> str:
        """``smb://host:port/share/folder``."""
        port = f":{self.smb_port}" if self.smb_port else ""
        return f"smb://{self.host}{port}/{self.share_and_folder}"
