"""Keep the outcomes of every object a run writes, not only its Accounts': each row names its
object, the key the record is known by in ERP terms and the action (`jobs.outcomes`); the
Account's Id column becomes the record's Id. The rows kept so far are all Account updates.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ADDED = (("object", sa.Text()), ("key", sa.Text()), ("action", sa.String(length=16)))


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as outcomes:
        for name, kind in _ADDED:
            outcomes.add_column(sa.Column(name, kind, nullable=True))
        outcomes.alter_column("account_id", new_column_name="record_id", existing_type=sa.Text())
    table = sa.table(
        "outcomes",
        sa.column("object"),
        sa.column("key"),
        sa.column("action"),
        sa.column("customer_id"),
    )
    op.execute(table.update().values(object="Account", key=table.c.customer_id, action="update"))
    with op.batch_alter_table("outcomes") as outcomes:
        for name, kind in _ADDED:
            outcomes.alter_column(name, existing_type=kind, nullable=False)


def downgrade() -> None:
    table = sa.table("outcomes", sa.column("object"))
    op.execute(table.delete().where(table.c.object != "Account"))
    with op.batch_alter_table("outcomes") as outcomes:
        outcomes.alter_column("record_id", new_column_name="account_id", existing_type=sa.Text())
        for name, _ in reversed(_ADDED):
            outcomes.drop_column(name)
