"""Channel delivery state: per-message provider ids and statuses, per-customer channel state, button payloads.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(32)),  # the hub's stored message id (messages.id), when known
        sa.Column("provider_id", sa.String(64)),  # Twilio MessageSid, Telegram message id
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(32)),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("body", sa.JSON),  # a message parked until the customer reopens the WhatsApp window
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel", "provider_id", name="uq_channel_deliveries_provider"),
    )
    op.create_index("ix_channel_deliveries_message", "channel_deliveries", ["message_id"])
    op.create_index("ix_channel_deliveries_parked", "channel_deliveries", ["channel", "recipient", "status"])
    op.create_table(
        "channel_contacts",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("external_user_id", sa.String(255), primary_key=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True)),
        sa.Column("template_sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_buttons", sa.JSON),
    )
    op.create_table(
        "channel_payloads",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_payloads")
    op.drop_table("channel_contacts")
    op.drop_index("ix_channel_deliveries_parked", table_name="channel_deliveries")
    op.drop_index("ix_channel_deliveries_message", table_name="channel_deliveries")
    op.drop_table("channel_deliveries")
