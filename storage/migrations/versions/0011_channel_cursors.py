"""channel cursors

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23

How far each channel has read its platform's event stream (VK Bots Long Poll's ``ts`` per
community), saved after each batch of stored events, so a restarted bot resumes there and
answers what shoppers wrote while it was down.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_channel_cursors")),
    )


def downgrade() -> None:
    op.drop_table("channel_cursors")
