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


class Login(Block):
    """A login nested inside another block, as a Docker registry is inside a Docker container block."""

    block_type_slug: ClassVar[str] = "test-login"
    username: str
    password: SecretStr


class Pusher(Block):
    """A test block with a nested login that may be absent."""

    block_type_slug: ClassVar[str] = "test-pusher"
    target: str
    login: Login | None = None


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


def test_a_nested_secret_is_a_dotted_secret_field():
    assert Pusher.secret_fields() == ["login.password"]


@pytest.fixture
def saved_pusher(client):
    return client.save_block(Pusher(target="t", login=Login(username="u", password=SecretStr(SECRET))), "nested")


def test_a_nested_secret_is_masked_and_encrypted(api, saved_pusher, database_url):
    from sluice.server.database.engine import get_database

    masked = api.get(f"/api/block_documents/{saved_pusher.id}")
    assert SECRET not in masked.text
    assert masked.json()["data"]["login"] == {"username": "u", "password": "********"}
    assert SECRET not in api.post("/api/block_documents/filter", json={}).text
    with get_database(database_url).engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM block_document")).mappings().one()
    assert SECRET not in json.dumps({k: str(v) for k, v in row.items()})


def test_a_nested_secret_round_trips_through_load(client, saved_pusher):
    document = client.read_block_document(saved_pusher.id, include_secrets=True)
    assert document.data["login"] == {"username": "u", "password": SECRET}
    assert Pusher.from_data(document.data).login.password.get_secret_value() == SECRET


def test_an_update_sending_a_nested_mask_keeps_the_stored_secret(client, saved_pusher):
    body = {"target": "t2", "login": {"username": "v", "password": "********"}}
    updated = client.update_block_document(saved_pusher.id, body, merge_existing_data=False)
    assert updated.data["login"] == {"username": "v", "password": "********"}
    stored = client.read_block_document(saved_pusher.id, include_secrets=True).data
    assert stored == {"target": "t2", "login": {"username": "v", "password": SECRET}}


def test_a_nested_mask_without_a_stored_secret_is_refused(api, client):
    client.create_block_type("test-pusher", "Pusher")
    client.create_block_schema("test-pusher", **Pusher.block_schema())
    body = {"name": "x", "block_type_slug": "test-pusher", "data": {"target": "t", "login": {"password": "********"}}}
    answer = api.post("/api/block_documents/", json=body)
    assert answer.status_code == 422 and "login.password" in answer.json()["detail"]


def test_a_block_without_its_nested_model_stores_no_secret(client):
    saved = client.save_block(Pusher(target="t"), "bare")
    assert client.read_block_document(saved.id).data == {"target": "t", "login": None}
