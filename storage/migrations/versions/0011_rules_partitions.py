"""Rules processes that scale out: partition leases, their members, and the per-partition
feed of committed telemetry (CONTRACT section 10).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- One row per partition of elevators (rows are created by the rules processes).
    -- epoch grows at every change of owner: a write of alerts checks it (fencing).
    -- cursor: the last feed seq whose transitions are committed.
    CREATE TABLE rules_partitions (
        partition   smallint PRIMARY KEY,
        owner       text,
        epoch       bigint NOT NULL DEFAULT 0,
        expires_at  timestamptz,
        cursor      bigint NOT NULL DEFAULT 0
    );
    -- The rules processes alive (heartbeats), to share the partitions fairly.
    CREATE TABLE rules_members (
        owner       text PRIMARY KEY,
        started_at  timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL
    );
    -- Written by the ingesters in the transaction that stores the telemetry: the samples
    -- that were new, per partition, numbered without gaps in commit order (the head row
    -- is locked until commit).
    CREATE TABLE rules_feed_heads (
        partition   smallint PRIMARY KEY,
        head        bigint NOT NULL
    );
    CREATE TABLE rules_feed (
        partition   smallint NOT NULL,
        seq         bigint NOT NULL,
        body        bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (partition, seq)
    );
    -- Rows live until their owner has read them: no compression on the ingest path.
    ALTER TABLE rules_feed ALTER COLUMN body SET STORAGE EXTERNAL;
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
