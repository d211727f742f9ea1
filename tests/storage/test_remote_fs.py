"""The remote-file-system block (sluice-remote-fs): memory://, file:// and S3 (SeaweedFS) by URL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from sluice.errors import ConfigurationError, StorageError
from sluice_remote_fs.block import RemoteFileSystem
from tests.storage.battery import StorageBattery
from tests.storage.conftest import S3Server


class TestMemoryURL(StorageBattery):
    @pytest.fixture
    def block(self) -> RemoteFileSystem:
        return RemoteFileSystem(basepath=f"memory://sluice-{uuid.uuid4().hex}")


class TestFileURL(StorageBattery):
    @pytest.fixture
    def block(self, tmp_path: Path) -> RemoteFileSystem:
        return RemoteFileSystem(basepath=f"file://{tmp_path}/store")


@pytest.mark.service
class TestS3URL(StorageBattery):
    @pytest.fixture
    def block(self, seaweedfs: S3Server) -> RemoteFileSystem:
        return RemoteFileSystem(
            basepath=f"s3://{seaweedfs.bucket}/remote-fs-{uuid.uuid4().hex}",
            settings={
                "key": seaweedfs.access_key,
                "secret": seaweedfs.secret_key,
                "client_kwargs": {"endpoint_url": seaweedfs.endpoint_url},
            },
        )

    @pytest.fixture
    def secrets(self, seaweedfs: S3Server) -> list[str]:
        return [seaweedfs.secret_key]

    def test_wrong_secret_is_one_clear_error_without_the_secret(self, seaweedfs: S3Server) -> None:
        block = RemoteFileSystem(
            basepath=f"s3://{seaweedfs.bucket}/x",
            settings={
                "key": seaweedfs.access_key,
                "secret": "wrong-secret-value-987",
                "client_kwargs": {"endpoint_url": seaweedfs.endpoint_url},
            },
        )
        with pytest.raises(StorageError) as caught:
            block.write_path("a.txt", b"x")
        message = str(caught.value)
        assert "Remote File System" in message
        assert f"s3://{seaweedfs.bucket}/x" in message
        assert "access denied" in message
        assert "wrong-secret-value-987" not in message


def test_settings_secrets_are_masked_in_data_and_repr() -> None:
    block = RemoteFileSystem(
        basepath="memory://x",
        settings={
            "key": "AKIA-visible-id",
            "secret": "s3cr3t-value",
            "client_kwargs": {"token": "t0ken-value", "region_name": "eu-west-1"},
            "connection_string": "AccountKey=abc",
            "password": "pa55word",
        },
    )
    shown = json.dumps(block.data()) + repr(block)
    for secret in ("s3cr3t-value", "t0ken-value", "AccountKey=abc", "pa55word", "AKIA-visible-id"):
        assert secret not in shown
    assert block.data()["settings"]["client_kwargs"]["region_name"] == "eu-west-1"
    assert block.data(include_secrets=True)["settings"]["secret"] == "s3cr3t-value"


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    expected = r"basepath: a password is not allowed in the URL: .*smb://user@host/.*settings\.password"
    with pytest.raises(ConfigurationError, match=expected) as error:
        RemoteFileSystem.from_data({"basepath": "smb://user:hunter2-pass@host/share"})
    assert "hunter2-pass" not in str(error.value)


def test_a_user_name_in_the_url_is_kept() -> None:
    block = RemoteFileSystem(basepath="sftp://deploy@host/flows", settings={"password": "pa55"})
    assert block.basepath == "sftp://deploy@host/flows"
    assert "pa55" not in json.dumps(block.data())


def test_basepath_without_a_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a scheme"):
        RemoteFileSystem(basepath="/just/a/path")


def test_an_unknown_scheme_is_one_clear_error() -> None:
    with pytest.raises(StorageError, match=r"no fsspec implementation for 'nosuch'"):
        RemoteFileSystem(basepath="nosuch://x").read_path("a")


def test_a_missing_library_names_the_plugin_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    # ``fsspec.registry`` the attribute is a mapping; the module is what the block imports from.
    registry_module = importlib.import_module("fsspec.registry")

    def missing(protocol: str) -> type:
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(registry_module, "get_filesystem_class", missing)
    with pytest.raises(StorageError, match=r"pip install sluice-s3"):
        RemoteFileSystem(basepath="s3://bucket/x").read_path("a")
