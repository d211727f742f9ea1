"""``/api/block_types`` (server/api/block_types.py)."""

from __future__ import annotations

import uuid


def test_register_is_idempotent_by_slug_and_updates(api):
    first = api.post("/api/block_types/", json={"slug": "s3", "name": "S3"})
    again = api.post("/api/block_types/", json={"slug": "s3", "name": "S3", "description": "Buckets"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["description"] == "Buckets"


def test_read_by_id_slug_and_filter(api):
    created = api.post("/api/block_types/", json={"slug": "s3", "name": "S3"}).json()
    api.post("/api/block_types/", json={"slug": "gcs", "name": "GCS"})
    assert api.get(f"/api/block_types/{created['id']}").json()["slug"] == "s3"
    assert api.get("/api/block_types/slug/s3").json()["id"] == created["id"]
    assert [t["slug"] for t in api.post("/api/block_types/filter", json={}).json()] == ["gcs", "s3"]
    assert api.get("/api/block_types/slug/nope").status_code == 404


def test_invalid_slug_is_422(api):
    assert api.post("/api/block_types/", json={"slug": "Not A Slug", "name": "x"}).status_code == 422


def test_delete(api):
    created = api.post("/api/block_types/", json={"slug": "s3", "name": "S3"}).json()
    assert api.delete(f"/api/block_types/{created['id']}").status_code == 204
    assert api.delete(f"/api/block_types/{uuid.uuid4()}").status_code == 404
