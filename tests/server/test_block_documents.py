"""``/api/block_documents`` (server/api/block_documents.py): saved blocks and their secrets."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from sluice.blocks import Block
from sluice.errors import ObjectAlreadyExists, ObjectNotFound

SECRET = "hunter2-very-secret"


class Bucket(Block):
    """A test bucket."""

    block_type_slug: ClassVar[str] = "test-bucket"
    bucket: str
    secret: SecretStr


@pytest.fixture
def saved(client):
    return client.save_block(Bucket(bucket="data", secret=SecretStr(SECRET)), "dev")


def test_secrets_are_masked_unless_asked_for(api, saved):
    for path in (
        f"/api/block_documents/{saved.id}",
        "/api/block_documents/name/test-bucket/dev",
        "/api/block_types/slug/test-bucket/block_documents/name/dev",
    ):
        masked = api.get(path)
        assert SECRET not in masked.text
        assert masked.json()["data"] == {"bucket": "data", "secret": "********"}
        assert api.get(path, params={"include_secrets": "true"}).json()["data"]["secret"] == SECRET
    assert SECRET not in api.post("/api/block_documents/filter", json={}).text
    assert saved.data["secret"] == "********"


def test_secrets_are_not_stored_in_plain_text(saved, database_url):
    from sluice.server.database.engine import get_database

    with get_database(database_url).engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM block_document")).mappings().one()
    assert SECRET not in json.dumps({k: str(v) for k, v in row.items()})
    assert row["encrypted_secrets"]


def test_block_save_and_load_round_trip(client, saved):
    document = client.read_block_document_by_name("test-bucket", "dev", include_secrets=True)
    loaded = Bucket.from_data(document.data)
    assert loaded.secret.get_secret_value() == SECRET and loaded.bucket == "data"


def test_saving_an_existing_name_needs_overwrite(client, saved):
    with pytest.raises(ObjectAlreadyExists, match="overwrite"):
        client.save_block(Bucket(bucket="other", secret=SecretStr("x")), "dev")
    replaced = client.save_block(Bucket(bucket="other", secret=SecretStr("new")), "dev", overwrite=True)
    assert replaced.id == saved.id
    assert client.read_block_document(saved.id, include_secrets=True).data == {"bucket": "other", "secret": "new"}


def test_update_with_the_mask_keeps_the_stored_secret(client, saved):
    updated = client.update_block_document(saved.id, {"bucket": "renamed", "secret": "********"})
    assert updated.data == {"bucket": "renamed", "secret": "********"}
    assert client.read_block_document(saved.id, include_secrets=True).data["secret"] == SECRET


def test_filter_by_type_and_name(client, saved):
    assert [d.name for d in client.filter_block_documents(block_type_slugs=["test-bucket"])] == ["dev"]
    assert client.filter_block_documents(names=["nope"]) == []
    listed = client.filter_block_documents(include_secrets=True)
    assert listed[0].data["secret"] == SECRET


def test_document_used_by_a_deployment_cannot_be_deleted(client, saved, flow):
    deployment = client.create_deployment("d", flow.id, storage_document_id=saved.id)
    with pytest.raises(ObjectAlreadyExists, match="used by deployment 'd'"):
        client.delete_block_document(saved.id)
    client.delete_deployment(deployment.id)
    client.delete_block_document(saved.id)
    with pytest.raises(ObjectNotFound):
        client.read_block_document(saved.id)


def test_unknown_type_or_name_is_404(client, saved):
    with pytest.raises(ObjectNotFound):
        client.read_block_document_by_name("test-bucket", "prod")
    with pytest.raises(ObjectNotFound, match="register it first"):
        client.create_block_document("nope", "x", {})


def test_the_mask_is_not_a_secret_value(api, saved):
    body = {"name": "other", "block_type_slug": "test-bucket", "data": {"bucket": "b", "secret": "********"}}
    assert api.post("/api/block_documents/", json=body).status_code == 422


def test_key_file_is_created_private(saved, isolated_sluice_home):
    key_file = isolated_sluice_home / "encryption.key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600
