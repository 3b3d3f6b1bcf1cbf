"""The audit log of agent and admin actions (never message content or passwords).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("role", sa.String(16)),
        sa.Column("via", sa.String(16)),
        sa.Column("client", sa.String(64)),
        sa.Column("conversation_id", sa.String(32)),
        sa.Column("target", sa.String(255)),
        sa.Column("details", sa.JSON),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action", "at"])
    op.create_index("ix_audit_log_conversation", "audit_log", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
