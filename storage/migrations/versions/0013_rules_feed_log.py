"""The rules feed as one log: a row per ingest batch instead of a row per partition touched.

Every batch of a fleet touches nearly every partition, so a row (and a locked head) per
partition cost 64 rows, 64 head updates and 64 round-trip rows per batch; now a batch
is one row numbered in commit order (one head, locked until commit), holding each
partition's part of the batch at its own offset in one uncompressed body, so a reader
fetches only the slices of the partitions it owns (CONTRACT section 10). Unread rows of
the old feed are carried over, in the order they were written, and every cursor starts
again at zero of the new numbering.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE rules_feed RENAME TO rules_feed_0011;
    ALTER INDEX rules_feed_pkey RENAME TO rules_feed_0011_pkey;
    CREATE TABLE rules_feed (
        seq         bigint PRIMARY KEY,
        parts       smallint[] NOT NULL,  -- partitions in the body, ascending
        offs        integer[] NOT NULL,   -- where each partition's part starts (bytes)
        lens        integer[] NOT NULL,   -- and how long it is
        body        bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    -- Uncompressed out-of-line storage: substring() fetches only the slice it needs.
    ALTER TABLE rules_feed ALTER COLUMN body SET STORAGE EXTERNAL;
    INSERT INTO rules_feed (seq, parts, offs, lens, body, created_at)
    SELECT row_number() OVER (ORDER BY f.created_at, f.seq, f.partition),
           ARRAY[f.partition], ARRAY[0], ARRAY[length(f.body)], f.body, f.created_at
      FROM rules_feed_0011 f
      LEFT JOIN rules_partitions p ON p.partition = f.partition
     WHERE f.seq > coalesce(p.cursor, 0);
    UPDATE rules_partitions SET cursor = 0;
    DROP TABLE rules_feed_0011, rules_feed_heads;
    CREATE TABLE rules_feed_head (
        one   boolean PRIMARY KEY DEFAULT true CHECK (one),
        head  bigint NOT NULL
    );
    INSERT INTO rules_feed_head SELECT true, coalesce(max(seq), 0) FROM rules_feed;
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
