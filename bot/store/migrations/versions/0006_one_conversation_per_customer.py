"""One conversation per customer and channel, enforced by the database; an index for unfinished bot turns; the
customer message each bot message answers.

Two copies of a new customer's first webhook arriving at the same moment used to open two conversations. Any
such duplicates already stored are kept: the older ones get `#dup-<id>` appended to their customer id (their
transcripts stay readable in the console), the newest keeps the customer.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, channel, external_user_id FROM conversations ORDER BY channel, external_user_id, created_at DESC"
    )).fetchall()
    seen: set[tuple[str, str]] = set()
    for conv_id, channel, user in rows:
        if (channel, user) in seen:
            conn.execute(sa.text("UPDATE conversations SET external_user_id = :u WHERE id = :id"),
                         {"u": f"{user}#dup-{conv_id}"[:255], "id": conv_id})
        seen.add((channel, user))
    op.drop_index("ix_conversations_user", table_name="conversations")
    op.create_index("ix_conversations_user", "conversations", ["channel", "external_user_id"], unique=True)
    op.create_index("ix_messages_outcome", "messages", ["outcome"])
    with op.batch_alter_table("messages") as batch:  # the customer message a bot message answers
        batch.add_column(sa.Column("reply_to", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reply_to")
    op.drop_index("ix_messages_outcome", table_name="messages")
    op.drop_index("ix_conversations_user", table_name="conversations")
    op.create_index("ix_conversations_user", "conversations", ["channel", "external_user_id"])
