"""Keep, per run, the customers whose balance did not reconcile with the ERP's own figure,
with both figures: `arsync runs show` and the report list them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Only the customers out of line are kept (the reconciled ones are the run's counts), so a
nightly run of 50,000 customers adds a handful of rows, not 50,000.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("arsync_balance", sa.Text(), nullable=False),
        sa.Column("erp_balance", sa.Text(), nullable=False),
        sa.Column("difference", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("figure", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_reconciliations_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliations")),
    )
    op.create_index(op.f("ix_reconciliations_run_id"), "reconciliations", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reconciliations_run_id"), table_name="reconciliations")
    op.drop_table("reconciliations")
