"""The gcs block (sluice-gcs) against fake-gcs-server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from sluice.errors import StorageError
from sluice_gcs.block import GCS
from tests.storage.battery import StorageBattery
from tests.storage.conftest import BUCKET

pytestmark = pytest.mark.service

SERVICE_ACCOUNT_INFO = json.dumps({"type": "service_account", "private_key": "gcs-private-key-not-real"})


class TestGCS(StorageBattery):
    @pytest.fixture
    def block(self, fake_gcs: str) -> GCS:
        return GCS(bucket_path=f"{BUCKET}/{uuid.uuid4().hex}", endpoint_url=fake_gcs, project="sluice-test")

    def test_service_account_info_is_masked(self) -> None:
        block = GCS(bucket_path="bucket", service_account_info=SERVICE_ACCOUNT_INFO)
        shown = repr(block) + json.dumps(block.data())
        assert "gcs-private-key-not-real" not in shown
        assert json.loads(block.data(include_secrets=True)["service_account_info"])["type"] == "service_account"


def test_a_missing_bucket_is_one_clear_error_naming_the_block_and_url(fake_gcs: str, tmp_path: Path) -> None:
    block = GCS(bucket_path="no-such-bucket/flows", endpoint_url=fake_gcs, project="sluice-test")
    with pytest.raises(StorageError) as caught:
        block.write_path("a.txt", b"x")
    assert str(caught.value).startswith("GCS storage block (gcs) at gs://no-such-bucket/flows/a.txt: not found")
    with pytest.raises(StorageError, match=r"gs://no-such-bucket/flows: not found"):
        block.get_directory(local_path=tmp_path)


def test_service_account_info_must_be_json() -> None:
    with pytest.raises(ValueError, match="JSON key of a service account"):
        GCS(bucket_path="bucket", service_account_info="not json")


def test_bucket_path_accepts_a_gs_url() -> None:
    assert GCS(bucket_path="gs://bucket/prefix").display_url() == "gs://bucket/prefix"
