"""Image jobs and anonymous daily usage counters.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("original_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("original_key", sa.String(length=255), nullable=True),
        sa.Column("result_key", sa.String(length=255), nullable=True),
        sa.Column("result_width", sa.Integer(), nullable=True),
        sa.Column("result_height", sa.Integer(), nullable=True),
        sa.Column("foreground_top", sa.Integer(), nullable=True),
        sa.Column("foreground_left", sa.Integer(), nullable=True),
        sa.Column("foreground_width", sa.Integer(), nullable=True),
        sa.Column("foreground_height", sa.Integer(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=96), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_queue", ["status", "region", "created_at"], unique=False)
        batch_op.create_index("ix_jobs_owner_created", ["user_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("seconds_total", sa.Float(), nullable=False),
        sa.Column("seconds_le_0_5", sa.Integer(), nullable=False),
        sa.Column("seconds_le_1", sa.Integer(), nullable=False),
        sa.Column("seconds_le_2", sa.Integer(), nullable=False),
        sa.Column("seconds_le_5", sa.Integer(), nullable=False),
        sa.Column("seconds_le_10", sa.Integer(), nullable=False),
        sa.Column("seconds_le_30", sa.Integer(), nullable=False),
        sa.Column("seconds_gt_30", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "region", "model", "outcome", name=op.f("pk_usage_daily")),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_expires_at"))
        batch_op.drop_index("ix_jobs_owner_created")
        batch_op.drop_index("ix_jobs_queue")
    op.drop_table("jobs")
