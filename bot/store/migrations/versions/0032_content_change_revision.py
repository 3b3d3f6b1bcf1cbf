"""Review-inbox content changes remember the studio revision that holds them (published or still pending).

Revision ID: 0032
Revises: 0031
"""
import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("content_changes") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("content_changes") as batch:
        batch.drop_column("revision")
