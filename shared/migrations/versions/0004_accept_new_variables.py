"""Datasets choose whether unknown variables are registered on first sight; variables know if they were declared.

`datasets.accept_new_variables`: on, a reading for an unregistered variable registers it (whatever the protocol);
off, it is refused naming the variable. `variables.declared`: made by the owner (with the dataset or added
later), as opposed to registered on first sight; only declared variables take ThingSpeak's field1..field8 slots.

Existing rows: a variable is taken as declared when it was made with its dataset (same transaction time); a
dataset keeps accepting new variables when it had none at creation or already registered some on first sight.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "datasets", sa.Column("accept_new_variables", sa.Boolean, nullable=False, server_default=sa.text("false"))
    )
    op.add_column("variables", sa.Column("declared", sa.Boolean, nullable=False, server_default=sa.text("true")))
    op.execute("""
        update variables v set declared = false
        from datasets d where d.id = v.dataset_id and v.created_at <> d.created_at
    """)
    op.execute("""
        update datasets d set accept_new_variables = true
        where not exists (select 1 from variables v where v.dataset_id = d.id and v.declared)
           or exists (select 1 from variables v where v.dataset_id = d.id and not v.declared)
    """)


def downgrade() -> None:
    op.drop_column("variables", "declared")
    op.drop_column("datasets", "accept_new_variables")
