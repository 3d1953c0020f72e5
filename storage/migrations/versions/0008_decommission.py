"""Elevators taken out of service for good (CONTRACT section 5, decommission).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE elevators
        ADD COLUMN decommissioned_at    timestamptz,
        ADD COLUMN decommissioned_by    text,
        ADD COLUMN decommission_reason  text;
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
