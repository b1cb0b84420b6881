"""Remember what arsync last wrote to each Account field, so a person's later edit is seen.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "written_values",
        sa.Column("account_id", sa.String(length=18), nullable=False),
        sa.Column("field", sa.String(length=80), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_written_values_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("account_id", "field", name=op.f("pk_written_values")),
    )


def downgrade() -> None:
    op.drop_table("written_values")
