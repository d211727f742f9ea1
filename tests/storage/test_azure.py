"""The azure block (sluice-azure) against Azurite, which checks the account key."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sluice.errors import StorageError
from sluice_azure.block import Azure
from tests.storage.battery import StorageBattery
from tests.storage.conftest import AZURITE_ACCOUNT_KEY, BUCKET

pytestmark = pytest.mark.service

WRONG_KEY = "d3Jvbmcta2V5LWZvci10ZXN0cw=="  # base64, so the SDK signs with it and the server refuses


class TestAzure(StorageBattery):
    @pytest.fixture
    def block(self, azurite: str) -> Azure:
        return Azure(bucket_path=f"{BUCKET}/{uuid.uuid4().hex}", azure_storage_connection_string=azurite)

    @pytest.fixture
    def secrets(self) -> list[str]:
        return [AZURITE_ACCOUNT_KEY]


def test_a_wrong_account_key_is_one_clear_error_without_the_key(azurite: str) -> None:
    block = Azure(
        bucket_path=f"{BUCKET}/denied", azure_storage_connection_string=azurite.replace(AZURITE_ACCOUNT_KEY, WRONG_KEY)
    )
    with pytest.raises(StorageError) as caught:
        block.write_path("a.txt", b"x")
    message = str(caught.value)
    assert message.startswith(f"Azure storage block (azure) at az://{BUCKET}/denied/a.txt: access denied")
    assert WRONG_KEY not in message
    assert "\n" not in message


def test_a_missing_container_is_one_clear_error(azurite: str, tmp_path: Path) -> None:
    block = Azure(bucket_path="no-such-container/flows", azure_storage_connection_string=azurite)
    with pytest.raises(StorageError) as caught:
        block.write_path("a.txt", b"x")
    assert str(caught.value).startswith("Azure storage block (azure) at az://no-such-container/flows/a.txt: not found")
    with pytest.raises(StorageError, match="not found"):
        block.get_directory(local_path=tmp_path)


def test_an_account_or_connection_string_is_required() -> None:
    with pytest.raises(ValueError, match="azure_storage_connection_string"):
        Azure(bucket_path="container")


def test_the_account_key_is_masked() -> None:
    block = Azure(bucket_path="c", azure_storage_account_name="acct", azure_storage_account_key="azure-key-value")
    assert "azure-key-value" not in repr(block) + str(block.data())
