"""Keep each customer's segment in the score history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Nullable: the snapshots taken before this revision have no segment, and stay that way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot drop a column in place (downgrade); adding one it does natively.
    with op.batch_alter_table("score_snapshots") as batch_op:
        batch_op.add_column(sa.Column("segment", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("score_snapshots") as batch_op:
        batch_op.drop_column("segment")
