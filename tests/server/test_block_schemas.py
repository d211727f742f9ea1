"""``/api/block_schemas`` (server/api/block_schemas.py)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from sluice.blocks import Block


class Bucket(Block):
    """A test bucket."""

    block_type_slug: ClassVar[str] = "test-bucket"
    bucket: str
    secret: SecretStr


def test_register_schema_from_block_is_idempotent_by_checksum(client):
    client.create_block_type("test-bucket", "Bucket")
    first = client.create_block_schema("test-bucket", **Bucket.block_schema())
    again = client.create_block_schema("test-bucket", **Bucket.block_schema())
    assert again.id == first.id
    assert first.secret_fields == ["secret"]
    assert first.checksum == Bucket.block_schema()["checksum"]


def test_checksum_is_computed_the_way_blocks_compute_it(client):
    client.create_block_type("test-bucket", "Bucket")
    body = {k: v for k, v in Bucket.block_schema().items() if k != "checksum"}
    assert client.create_block_schema("test-bucket", **body).checksum == Bucket.block_schema()["checksum"]


def test_read_by_id_checksum_and_filter(api, client):
    client.create_block_type("test-bucket", "Bucket")
    schema = client.create_block_schema("test-bucket", **Bucket.block_schema())
    assert api.get(f"/api/block_schemas/{schema.id}").json()["block_type_slug"] == "test-bucket"
    assert api.get(f"/api/block_schemas/checksum/{schema.checksum}").json()["id"] == str(schema.id)
    listed = api.post("/api/block_schemas/filter", json={"block_type_slugs": ["test-bucket"]}).json()
    assert [s["id"] for s in listed] == [str(schema.id)]


def test_schema_of_unregistered_type_is_404(api):
    response = api.post("/api/block_schemas/", json={"block_type_slug": "nope", "fields": {}})
    assert response.status_code == 404
    assert "register it first" in response.json()["detail"]
