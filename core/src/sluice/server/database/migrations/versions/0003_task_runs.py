"""Task runs and their state histories; subflow runs and logs name the task run they come from.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from sluice.server.database.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen here so that later changes to the app's types do not rewrite history.
JSON_TYPE = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "task_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("task_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("dynamic_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("parent_task_run_id", sa.Uuid(), nullable=True),
        sa.Column("tags", JSON_TYPE, nullable=False),
        sa.Column("task_inputs", JSON_TYPE, nullable=False),
        sa.Column("state_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("state_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("state_timestamp", UTCDateTime(), nullable=True),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column("expected_start_time", UTCDateTime(), nullable=True),
        sa.Column("start_time", UTCDateTime(), nullable=True),
        sa.Column("end_time", UTCDateTime(), nullable=True),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["flow_run_id"], ["flow_run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "flow_run_id", "task_key", "dynamic_key", name="uq_task_run_flow_run_task_key_dynamic_key"
        ),
    )
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_run_flow_run_id_expected_start_time", ["flow_run_id", "expected_start_time"], unique=False
        )
        batch_op.create_index("ix_task_run_parent_task_run_id", ["parent_task_run_id"], unique=False)

    op.create_table(
        "task_run_state",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("task_run_id", sa.Uuid(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["task_run_id"], ["task_run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("task_run_state", schema=None) as batch_op:
        batch_op.create_index("ix_task_run_state_task_run_id_timestamp", ["task_run_id", "timestamp"], unique=False)

    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_task_run_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_flow_run_parent_task_run_id", ["parent_task_run_id"], unique=False)

    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_run_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_log_task_run_id", ["task_run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.drop_index("ix_log_task_run_id")
        batch_op.drop_column("task_run_id")
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_run_parent_task_run_id")
        batch_op.drop_column("parent_task_run_id")
    with op.batch_alter_table("task_run_state", schema=None) as batch_op:
        batch_op.drop_index("ix_task_run_state_task_run_id_timestamp")
    op.drop_table("task_run_state")
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.drop_index("ix_task_run_parent_task_run_id")
        batch_op.drop_index("ix_task_run_flow_run_id_expected_start_time")
    op.drop_table("task_run")
