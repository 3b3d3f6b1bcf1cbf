"""The studio: content revisions (who, when, what, per item before/after, the git commit) and the audit log.

Revision ID: 0010
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studio_revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("author_name", sa.String(255), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("files", sa.JSON),
        sa.Column("commit", sa.String(64)),
        sa.Column("reverts", sa.Integer),
    )
    op.create_table(
        "studio_revision_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("revision_id", sa.Integer, sa.ForeignKey("studio_revisions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("ix_studio_revision_items_revision_id", "studio_revision_items", ["revision_id"])
    op.create_index("ix_studio_revision_items_key", "studio_revision_items", ["key"])
    op.create_table(
        "studio_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("actor_name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.JSON),
        sa.Column("revision_id", sa.Integer),
        sa.Column("release", sa.String(64)),
    )
    op.create_index("ix_studio_audit_at", "studio_audit", ["at"])


def downgrade() -> None:
    op.drop_table("studio_audit")
    op.drop_table("studio_revision_items")
    op.drop_table("studio_revisions")
