"""Keep in the score history what each run read from the CRM and scored: the promise to pay
(status, amount, date), whether a dispute is open there, and the Account's owner.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Nullable: the snapshots taken before this revision read nothing of the CRM into the history,
and stay NULL, so the report can tell "not recorded" from "none made".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot drop a column in place (downgrade); adding one it does natively.
    with op.batch_alter_table("score_snapshots") as batch_op:
        batch_op.add_column(sa.Column("promise_status", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("promise_amount", sa.Numeric(18, 2), nullable=True))
        batch_op.add_column(sa.Column("promise_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("crm_dispute_open", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("owner_id", sa.String(18), nullable=True))
        batch_op.add_column(sa.Column("owner_name", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("score_snapshots") as batch_op:
        for name in (
            "owner_name",
            "owner_id",
            "crm_dispute_open",
            "promise_date",
            "promise_amount",
            "promise_status",
        ):
            batch_op.drop_column(name)
