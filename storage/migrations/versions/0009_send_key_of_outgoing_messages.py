"""send key of outgoing messages

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

A reply keeps the key it was sent with, so the retry job resends it with the same one and a
platform that drops repeated sends by the caller's id (VK's ``random_id``) drops the copy of a
message that arrived although its answer was lost. Replies stored before have none and are
resent as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_key", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("send_key")
