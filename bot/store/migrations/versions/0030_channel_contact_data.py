"""What a channel keeps about a customer besides the window: an e-mail thread's subject and references.

Revision ID: 0030
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_contacts") as batch:
        batch.add_column(sa.Column("data", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel_contacts") as batch:
        batch.drop_column("data")
