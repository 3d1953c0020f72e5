"""Webhook messages about cases: each delivery names the cases it is about, as it names
alerts, so every attempt is recorded on the trail of its cases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE webhook_deliveries ADD COLUMN case_ids bigint[] NOT NULL DEFAULT '{}';
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
