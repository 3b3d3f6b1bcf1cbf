"""Proactive notifications: named templates, scheduled sends, and customers' opt-outs; one example template.

Revision ID: 0031
Revises: 0030
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

EXAMPLE = {
    "key": "shipment_delayed",
    "name": "Shipment delayed",
    "description": "Tell a customer their order will arrive later than promised.",
    "parameters": ["order_number", "new_date"],
    "variants": {
        "en": "Hello! Your order **{order_number}** is running late: it should now arrive on **{new_date}**. "
              "We're sorry for the wait. Reply here if you have any questions.",
        "it": "Ciao! Il tuo ordine **{order_number}** è in ritardo: ora dovrebbe arrivare il **{new_date}**. "
              "Ci scusiamo per l'attesa. Rispondi qui se hai domande.",
        "zh": "您好！您的订单 **{order_number}** 有所延误，预计将于 **{new_date}** 送达。抱歉让您久等。如有任何问题，请直接回复。",
        "ro": "Bună ziua! Comanda dumneavoastră **{order_number}** întârzie: ar trebui să ajungă pe **{new_date}**. "
              "Ne pare rău pentru așteptare. Răspundeți aici dacă aveți întrebări.",
    },
    "channels": {"messenger": {"tag": "POST_PURCHASE_UPDATE"}},
}


def upgrade() -> None:
    templates = op.create_table(
        "notification_templates",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("updated_by", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("batch_id", sa.String(32), nullable=False, index=True),
        sa.Column("template_key", sa.String(64)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("external_user_id", sa.String(255), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("reply_to", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_by_name", sa.String(255), nullable=False),
        sa.Column("conversation_id", sa.String(32)),
        sa.Column("message_id", sa.String(32), index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notifications_due", "notifications", ["state", "send_at"])
    op.create_table(
        "opt_outs",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("external_user_id", sa.String(255), primary_key=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True)),
        sa.Column("opted_in_at", sa.DateTime(timezone=True)),
        sa.Column("source", sa.String(255), nullable=False),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(templates, [{**EXAMPLE, "updated_by": None, "created_at": now, "updated_at": now}])


def downgrade() -> None:
    op.drop_table("opt_outs")
    op.drop_index("ix_notifications_due", "notifications")
    op.drop_table("notifications")
    op.drop_table("notification_templates")
