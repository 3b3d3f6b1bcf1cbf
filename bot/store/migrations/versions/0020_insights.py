"""Learning from conversations: the knowledge base's decision on each bot turn, "Was this helpful?" answers,
one outcome record per conversation (the reports' table), the review inbox and the content changes it made.

Revision ID: 0020
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        # on the customer's message: what the knowledge base decided for it (core.payloads.KBOutcome)
        batch.add_column(sa.Column("kb_decision", sa.String(16)))
        batch.add_column(sa.Column("kb_score", sa.Float))
        batch.add_column(sa.Column("kb_choices", sa.JSON))
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("answer_message_id", sa.String(32), nullable=False, unique=True),  # the bot's KB answer
        sa.Column("customer_message_id", sa.String(32)),  # the question it answered
        sa.Column("kb_entry_id", sa.String(128)),
        sa.Column("language", sa.String(16)),
        sa.Column("helpful", sa.Boolean),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_feedback_conversation", "feedback", ["conversation_id"])
    op.create_table(
        "conversation_facts",
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("team", sa.String(64)),
        sa.Column("agent", sa.String(255)),
        sa.Column("intent", sa.String(128)),
        sa.Column("customer_name", sa.String(255)),
        sa.Column("external_user_id", sa.String(255)),
        sa.Column("customer_key", sa.String(255)),
        sa.Column("order_numbers", sa.String(255)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_customer_at", sa.DateTime(timezone=True)),
        sa.Column("last_text", sa.String(300)),
        sa.Column("last_sender", sa.String(16)),
        sa.Column("customer_messages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bot_turns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bot_answers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("kb_answers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("kb_choices", sa.Integer, nullable=False, server_default="0"),
        sa.Column("kb_misses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fallbacks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("out_of_scope", sa.Integer, nullable=False, server_default="0"),
        sa.Column("low_confidence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_turn_outcome", sa.String(32)),
        sa.Column("handoffs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("handoff_reason", sa.String(64)),
        sa.Column("first_handoff_at", sa.DateTime(timezone=True)),
        sa.Column("first_assigned_at", sa.DateTime(timezone=True)),
        sa.Column("first_human_reply_at", sa.DateTime(timezone=True)),
        sa.Column("human_replies", sa.Integer, nullable=False, server_default="0"),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.String(255)),
        sa.Column("time_to_assignment_s", sa.Float),
        sa.Column("time_to_assignment_bh_s", sa.Float),
        sa.Column("first_response_s", sa.Float),
        sa.Column("first_response_bh_s", sa.Float),
        sa.Column("reply_time_sum_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("reply_time_bh_sum_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("reply_time_n", sa.Integer, nullable=False, server_default="0"),
        sa.Column("resolution_s", sa.Float),
        sa.Column("resolution_bh_s", sa.Float),
        sa.Column("csat_score", sa.Integer),
        sa.Column("csat_agent", sa.String(255)),
        sa.Column("feedback_yes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("feedback_no", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_feedback", sa.Boolean),
        sa.Column("bot_confirmed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("bot_assumable", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("search_text", sa.Text, nullable=False, server_default=""),
        sa.Column("search_key", sa.BigInteger, nullable=False),  # the row of the SQLite full-text index
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )
    _search_index()
    for name, columns in (("started", ["started_at"]), ("channel", ["channel", "started_at"]),
                          ("team", ["team", "started_at"]), ("agent", ["agent", "started_at"]),
                          ("language", ["language", "started_at"]), ("recent", ["last_message_at"]),
                          ("status", ["status", "last_message_at"]), ("customer", ["external_user_id"])):
        op.create_index(f"ix_facts_{name}", "conversation_facts", columns)
    op.create_table(
        "review_items",
        sa.Column("message_id", sa.String(32), primary_key=True),  # the customer's message
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),  # the main one
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="open"),  # open | done | dismissed
        sa.Column("action", sa.String(32)),
        sa.Column("handled_by", sa.String(255)),
        sa.Column("handled_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_review_open", "review_items", ["state", "created_at"])
    op.create_index("ix_review_conversation", "review_items", ["conversation_id"])
    op.create_table(
        "content_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),  # intent_example | faq_phrasing | faq_draft
        sa.Column("target", sa.String(128), nullable=False),  # the intent, or the FAQ entry id
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("answer", sa.Text),
        sa.Column("file", sa.String(500), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),  # written (to the content files) | published
        sa.Column("source_message_id", sa.String(32)),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def _search_index() -> None:
    """Substring search over `search_text` through each database's own trigram index: SQLite's FTS5 with its
    trigram tokenizer (a table of its own, keyed by `search_key`, written by the projector), PostgreSQL's pg_trgm
    GIN index (the same LIKE then uses it). Without pg_trgm (no permission to create it) search still works, by
    scanning."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE facts_search USING fts5(search_text, tokenize='trigram')")
        op.create_index("ix_facts_search_key", "conversation_facts", ["search_key"])
    elif bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                op.execute("CREATE INDEX ix_facts_search_trgm ON conversation_facts USING gin (search_text gin_trgm_ops)")
        except sa.exc.DBAPIError as exc:
            import logging

            logging.getLogger(__name__).warning("no pg_trgm (%s): console search will scan", exc.orig)


def downgrade() -> None:
    op.drop_table("content_changes")
    op.drop_table("review_items")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS facts_search")
    op.drop_table("conversation_facts")
    op.drop_table("feedback")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("kb_choices")
        batch.drop_column("kb_score")
        batch.drop_column("kb_decision")
