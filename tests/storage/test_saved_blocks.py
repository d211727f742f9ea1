"""Storage blocks saved on the (embedded) API and loaded back: secrets stored encrypted, shown masked."""

from __future__ import annotations

from sluice.blocks import MASK
from sluice.client import get_client
from sluice_remote_fs.block import RemoteFileSystem
from sluice_s3.block import S3


def test_an_s3_block_saves_and_loads_with_its_secret() -> None:
    S3(bucket_path="bucket/flows", aws_access_key_id="AKIA1", aws_secret_access_key="s3-saved-secret").save("prod")
    loaded = S3.load("prod")
    assert loaded.aws_secret_access_key is not None
    assert loaded.aws_secret_access_key.get_secret_value() == "s3-saved-secret"
    with get_client() as client:
        shown = client.read_block_document_by_name("s3", "prod")
    assert shown.data["aws_secret_access_key"] == MASK
    assert shown.data["bucket_path"] == "bucket/flows"


def test_remote_file_system_settings_are_stored_as_a_secret() -> None:
    settings = {"key": "id", "secret": "remote-saved-secret", "client_kwargs": {"endpoint_url": "http://x"}}
    RemoteFileSystem(basepath="s3://bucket/x", settings=settings).save("minio")
    assert RemoteFileSystem.load("minio").settings == settings
    with get_client() as client:
        shown = client.read_block_document_by_name("remote-file-system", "minio")
    assert shown.data["settings"] == MASK
