"""The s3 block (sluice-s3) against SeaweedFS, which enforces credentials."""

from __future__ import annotations

import uuid

import pytest

from sluice.errors import StorageError
from sluice_s3.block import S3
from tests.storage.battery import StorageBattery
from tests.storage.conftest import S3Server
from tests.storage.servers import free_port

pytestmark = pytest.mark.service


def make_block(server: S3Server, **changes: str) -> S3:
    fields = {
        "bucket_path": f"{server.bucket}/{uuid.uuid4().hex}",
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
        "endpoint_url": server.endpoint_url,
        "region_name": "us-east-1",
    }
    return S3.model_validate({**fields, **changes})


class TestS3(StorageBattery):
    @pytest.fixture
    def block(self, seaweedfs: S3Server) -> S3:
        return make_block(seaweedfs)

    @pytest.fixture
    def secrets(self, seaweedfs: S3Server) -> list[str]:
        return [seaweedfs.secret_key]


def test_a_wrong_secret_key_is_one_clear_error_naming_the_block_and_url(seaweedfs: S3Server) -> None:
    block = make_block(seaweedfs, bucket_path=f"{seaweedfs.bucket}/denied", aws_secret_access_key="wrong-s3-secret")
    for operation in (lambda: block.write_path("a.txt", b"x"), lambda: block.read_path("a.txt")):
        with pytest.raises(StorageError) as caught:
            operation()
        message = str(caught.value)
        assert message.startswith("S3 storage block (s3) at s3://sluice-test/denied/a.txt: access denied")
        assert "check the credentials" in message
        assert "wrong-s3-secret" not in message


def test_an_unknown_access_key_is_refused(seaweedfs: S3Server) -> None:
    block = make_block(seaweedfs, aws_access_key_id="no-such-key")
    with pytest.raises(StorageError, match="access denied"):
        block.write_path("a.txt", b"x")


def test_a_missing_bucket_is_one_clear_error_and_is_not_created(seaweedfs: S3Server, tmp_path) -> None:
    block = make_block(seaweedfs, bucket_path="no-such-bucket/flows")
    with pytest.raises(StorageError) as caught:
        block.write_path("a.txt", b"x")
    assert str(caught.value).startswith("S3 storage block (s3) at s3://no-such-bucket/flows/a.txt: not found")
    with pytest.raises(StorageError, match=r"s3://no-such-bucket/flows: not found"):
        block.get_directory(local_path=tmp_path)


def test_an_unreachable_endpoint_is_one_clear_error(seaweedfs: S3Server) -> None:
    block = make_block(seaweedfs, endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StorageError, match=r"cannot reach the server"):
        block.read_path("a.txt")


def test_bucket_path_accepts_an_s3_url() -> None:
    assert S3(bucket_path="s3://bucket/prefix/").display_url() == "s3://bucket/prefix"


def test_a_missing_s3fs_names_the_plugin_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "s3fs" else real_find_spec(name))
    with pytest.raises(StorageError, match=r"'s3fs' library is not installed: pip install sluice-s3"):
        S3(bucket_path="bucket").read_path("a.txt")
