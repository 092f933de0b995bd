"""faq suggestion picks

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

Which suggested entry a shopper tapped, and for which question: the wording content staff
should add to that entry (``otklik faq gaps`` shows them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "faq_suggestion_picks",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_faq_suggestion_picks_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_suggestion_picks")),
    )
    with op.batch_alter_table("faq_suggestion_picks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_faq_suggestion_picks_conversation_id"), ["conversation_id"]
        )
        batch_op.create_index(batch_op.f("ix_faq_suggestion_picks_created_at"), ["created_at"])


def downgrade() -> None:
    op.drop_table("faq_suggestion_picks")
