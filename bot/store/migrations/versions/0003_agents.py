"""Agents, console sessions, private notes, CSAT; routing and timing columns for the queue.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("resolved_by", sa.String(255)))
        batch.add_column(sa.Column("agent_read_seq", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("customer_key", sa.String(255)))
        batch.add_column(sa.Column("wait_announced_s", sa.Integer))
        batch.create_index("ix_conversations_customer_key", ["customer_key"])
        batch.create_index("ix_conversations_agent", ["status", "assigned_agent"])
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("team", sa.String(64)))
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("claimed_by", sa.String(255)))
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("teams", sa.JSON),
        sa.Column("skills", sa.JSON),
        sa.Column("max_concurrent", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_agent_sessions_agent_id", "agent_sessions", ["agent_id"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("author_name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notes_conversation_id", "notes", ["conversation_id"])
    op.create_table(
        "csat",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("agent", sa.String(255)),
        sa.Column("score", sa.Integer),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_csat_conversation_id", "csat", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("csat")
    op.drop_table("notes")
    op.drop_table("agent_sessions")
    op.drop_table("agents")
    with op.batch_alter_table("handoffs") as batch:
        for col in ("claimed_by", "claimed_at", "priority", "team"):
            batch.drop_column(col)
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_agent")
        batch.drop_index("ix_conversations_customer_key")
        for col in ("wait_announced_s", "customer_key", "agent_read_seq", "resolved_by", "resolved_at", "assigned_at"):
            batch.drop_column(col)
