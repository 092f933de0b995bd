"""one active handoff request per conversation

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Two requests of one conversation arriving at once (two workers, a double tap) could both find
none active and both insert. Requests that already doubled up are kept, the later ones marked
cancelled, so the index can be built on any existing database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('waiting', 'taken')"


def upgrade() -> None:
    op.execute(
        "UPDATE handoff_requests SET status = 'cancelled', closed_at = requested_at "
        f"WHERE {ACTIVE} AND id > (SELECT MIN(earlier.id) FROM handoff_requests AS earlier "
        "WHERE earlier.conversation_id = handoff_requests.conversation_id "
        "AND earlier.status IN ('waiting', 'taken'))"
    )
    with op.batch_alter_table("handoff_requests", schema=None) as batch_op:
        batch_op.create_index(
            "uq_handoff_requests_active",
            ["conversation_id"],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )


def downgrade() -> None:
    with op.batch_alter_table("handoff_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_handoff_requests_active",
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )
