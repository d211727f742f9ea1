"""The PostgreSQL advisory lock id that serialises schema changes across server replicas."""

from __future__ import annotations

#: Arbitrary constant naming the advisory lock taken by every schema change on PostgreSQL.
MIGRATION_LOCK_ID = 74_657_201
