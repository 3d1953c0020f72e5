"""Telemetry that does not grow without bound (CONTRACT section 10), on plain PostgreSQL:
daily partitions, hourly per-elevator blocks of arrays (TOAST-compressed), a per-minute
rollup advanced over closed minutes (late samples added by a trigger), and the samples
kept with alerts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The sample columns after elevator_pk, in table order, with their types.
SAMPLE = (("ts", "timestamptz"), ("seq", "bigint"), ("floor", "smallint"), ("pos_m", "real"),
          ("speed_mps", "real"), ("door", "smallint"), ("door_lock", "boolean"),
          ("safety_chain", "boolean"), ("level_mm", "real"), ("load_kg", "real"),
          ("occupied", "boolean"), ("alarm", "boolean"), ("motor_temp_c", "real"),
          ("power", "smallint"), ("mode", "smallint"), ("fault", "text"),
          ("vib_rms", "real"), ("vib_p2p", "real"))


def _block_table(name: str, compression: str, partitioned: bool) -> str:
    arrays = ",\n".join(f"        {c} {t}[] COMPRESSION {compression} NOT NULL"
                        for c, t in SAMPLE)
    tail = " PARTITION BY RANGE (hour)" if partitioned else ""
    return f"""
    CREATE TABLE {name} (
        elevator_pk  integer NOT NULL,
        hour         timestamptz NOT NULL,  -- date_bin('1 hour', ts, 'epoch') of every sample
        samples      integer NOT NULL,
{arrays},
        PRIMARY KEY (elevator_pk, hour)
    ){tail};"""


ROLLUP_LOCK = 0x5748_524C  # "WHRL", storage.rollup.LOCK_KEY


def _upsert(source: str, where: str) -> str:
    """Add the per-minute aggregates of ``source``'s rows to telemetry_minutes."""
    return f"""
        INSERT INTO telemetry_minutes AS m
        SELECT elevator_pk, date_bin('1 minute', ts, 'epoch'), count(*),
               coalesce(sum(speed_mps::float8), 0), max(abs(speed_mps)),
               count(pos_m), coalesce(sum(pos_m::float8), 0), min(pos_m), max(pos_m),
               count(load_kg), coalesce(sum(load_kg::float8), 0), max(load_kg),
               count(motor_temp_c), coalesce(sum(motor_temp_c::float8), 0),
               max(motor_temp_c),
               count(vib_rms), coalesce(sum(vib_rms::float8), 0), max(vib_rms),
               count(level_mm), coalesce(sum(level_mm::float8), 0), max(abs(level_mm))
          FROM {source} WHERE {where}
         GROUP BY 1, 2 ORDER BY 1, 2  -- one lock order for all writers
        ON CONFLICT (elevator_pk, minute) DO UPDATE SET
            samples = m.samples + excluded.samples,
            speed_sum = m.speed_sum + excluded.speed_sum,
            speed_max = greatest(m.speed_max, excluded.speed_max),
            pos_n = m.pos_n + excluded.pos_n, pos_sum = m.pos_sum + excluded.pos_sum,
            pos_min = least(m.pos_min, excluded.pos_min),
            pos_max = greatest(m.pos_max, excluded.pos_max),
            load_n = m.load_n + excluded.load_n, load_sum = m.load_sum + excluded.load_sum,
            load_max = greatest(m.load_max, excluded.load_max),
            temp_n = m.temp_n + excluded.temp_n, temp_sum = m.temp_sum + excluded.temp_sum,
            temp_max = greatest(m.temp_max, excluded.temp_max),
            vib_n = m.vib_n + excluded.vib_n, vib_sum = m.vib_sum + excluded.vib_sum,
            vib_max = greatest(m.vib_max, excluded.vib_max),
            level_n = m.level_n + excluded.level_n,
            level_sum = m.level_sum + excluded.level_sum,
            level_max = greatest(m.level_max, excluded.level_max);"""


def upgrade() -> None:
    from storage import timescale

    bind = op.get_bind()
    if timescale.available(bind):
        # TimescaleDB keeps its hypertable, compression, retention policy and continuous
        # aggregate (migration 0001); reads go through the same function.
        op.execute("""
        CREATE FUNCTION telemetry_samples(pk integer, t0 timestamptz, t1 timestamptz)
            RETURNS SETOF telemetry LANGUAGE sql STABLE AS $$
            SELECT * FROM telemetry WHERE elevator_pk = pk AND ts >= t0 AND ts < t1 $$;""")
        return
    lz4 = bind.exec_driver_sql(
        "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)").scalar()
    compression = "lz4" if lz4 else "pglz"
    op.execute("SET LOCAL TimeZone = 'UTC'")  # days and months are UTC days and months
    op.execute("""
    ALTER TABLE telemetry RENAME TO telemetry_unpartitioned;
    ALTER INDEX telemetry_dedup RENAME TO telemetry_unpartitioned_dedup;
    ALTER INDEX IF EXISTS telemetry_ts_brin RENAME TO telemetry_unpartitioned_ts_brin;
    CREATE TABLE telemetry (LIKE telemetry_unpartitioned INCLUDING DEFAULTS
                            INCLUDING CONSTRAINTS) PARTITION BY RANGE (ts);
    -- The deduplication key contains the partition key, so it stays unique per partition.
    CREATE UNIQUE INDEX telemetry_dedup ON telemetry (elevator_pk, ts, seq) NULLS NOT DISTINCT;
    -- The rollup reads the last minute of the whole fleet: rows arrive in time order, so a
    -- BRIN index of a few kilobytes finds them.
    CREATE INDEX telemetry_ts_brin ON telemetry USING brin (ts) WITH (pages_per_range = 32);
    -- A sample for a day without its partition lands here and is moved when the day's
    -- partition is created (or compacted from here).
    CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;

    -- Create (once) the partition [lo, hi) of parent, moving over any rows its default
    -- partition already holds for that range. Used by the service ahead of time.
    CREATE FUNCTION whistle_partition(parent text, key text, lo timestamptz, hi timestamptz,
                                      part text) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext(part));
        IF to_regclass(part) IS NOT NULL THEN
            RETURN false;
        END IF;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                       'INCLUDING COMPRESSION INCLUDING STORAGE)', part, parent);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)',
                       part, part || '_range', key, lo, key, hi);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                       parent || '_default', key, lo, key, hi, part);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       parent, part, lo, hi);
        RETURN true;
    END $$;
    """)
    op.execute(_block_table("telemetry_blocks", compression, partitioned=True))
    op.execute("CREATE TABLE telemetry_blocks_default PARTITION OF telemetry_blocks DEFAULT")
    # Samples around alerts, out of retention's reach while the alert exists.
    op.execute(_block_table("telemetry_kept", compression, partitioned=False))
    op.execute("""
    -- Per-minute aggregates (sums and counts, so wider buckets are exact re-aggregations).
    CREATE TABLE telemetry_minutes (
        elevator_pk  integer NOT NULL,
        minute       timestamptz NOT NULL,
        samples      integer NOT NULL,
        speed_sum    double precision NOT NULL, speed_max real,
        pos_n        integer NOT NULL, pos_sum double precision NOT NULL,
        pos_min      real, pos_max real,
        load_n       integer NOT NULL, load_sum double precision NOT NULL, load_max real,
        temp_n       integer NOT NULL, temp_sum double precision NOT NULL, temp_max real,
        vib_n        integer NOT NULL, vib_sum double precision NOT NULL, vib_max real,
        level_n      integer NOT NULL, level_sum double precision NOT NULL, level_max real,
        PRIMARY KEY (elevator_pk, minute)
    ) PARTITION BY RANGE (minute);
    CREATE TABLE telemetry_minutes_default PARTITION OF telemetry_minutes DEFAULT;
    -- Minutes before `minute` are rolled up (storage.rollup, every few seconds, over the
    -- closed minutes); a sample for one of them that arrives later is added by the
    -- trigger below. NULL: nothing rolled up yet.
    CREATE TABLE telemetry_rollup_mark (
        one     boolean PRIMARY KEY DEFAULT true CHECK (one),
        minute  timestamptz
    );
    INSERT INTO telemetry_rollup_mark VALUES (true, NULL);
    """)
    op.execute(f"""
    CREATE FUNCTION telemetry_roll_up_range(lo timestamptz, hi timestamptz) RETURNS bigint
        LANGUAGE plpgsql AS $$
    DECLARE n bigint;
    BEGIN
        {_upsert("telemetry", "ts >= lo AND ts < hi")}
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END $$;

    -- Late samples only: the rows this statement really inserted (never a duplicate) for
    -- minutes already rolled up. The shared lock orders it against storage.rollup, which
    -- moves the mark under the exclusive lock, so every sample is counted exactly once.
    CREATE FUNCTION telemetry_roll_up_late() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE mark timestamptz;
    BEGIN
        PERFORM pg_advisory_xact_lock_shared({ROLLUP_LOCK});
        SELECT minute INTO mark FROM telemetry_rollup_mark;
        IF mark IS NOT NULL THEN
            {_upsert("new_rows", "ts < mark")}
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER telemetry_roll_up_late AFTER INSERT ON telemetry
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION telemetry_roll_up_late();
    """)
    cols = ", ".join(c for c, _ in SAMPLE)
    unnest = f"unnest({', '.join('b.' + c for c, _ in SAMPLE)}) AS u({cols})"
    op.execute(f"""
    -- Every stored sample of one elevator in [t0, t1): recent rows, compacted blocks, and
    -- the blocks kept with alerts.
    CREATE FUNCTION telemetry_samples(pk integer, t0 timestamptz, t1 timestamptz)
        RETURNS SETOF telemetry LANGUAGE sql STABLE AS $$
        SELECT * FROM telemetry WHERE elevator_pk = pk AND ts >= t0 AND ts < t1
        UNION ALL
        SELECT b.elevator_pk, u.* FROM telemetry_blocks b, {unnest}
         WHERE b.elevator_pk = pk AND b.hour > t0 - interval '1 hour' AND b.hour < t1
           AND u.ts >= t0 AND u.ts < t1
        UNION ALL
        SELECT b.elevator_pk, u.* FROM telemetry_kept b, {unnest}
         WHERE b.elevator_pk = pk AND b.hour > t0 - interval '1 hour' AND b.hour < t1
           AND u.ts >= t0 AND u.ts < t1 $$;
    """)
    # Partitions for every day of the existing rows and the next days, then the rows
    # themselves (storage.rollup catches up with them, minute by minute).
    op.execute("""
    SELECT whistle_partition('telemetry', 'ts', d, d + interval '1 day',
                             'telemetry_p' || to_char(d AT TIME ZONE 'UTC', 'YYYYMMDD'))
      FROM generate_series(
             (SELECT date_bin('1 day', coalesce(min(ts), now()), 'epoch')
                FROM telemetry_unpartitioned),
             date_bin('1 day', now(), 'epoch') + interval '3 days', interval '1 day') AS d;
    SELECT whistle_partition('telemetry_minutes', 'minute', m AT TIME ZONE 'UTC',
                             (m + interval '1 month') AT TIME ZONE 'UTC',
                             'telemetry_minutes_p' || to_char(m, 'YYYYMM'))
      FROM generate_series(
             (SELECT date_trunc('month', coalesce(min(ts), now()) AT TIME ZONE 'UTC')
                FROM telemetry_unpartitioned),
             date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month',
             interval '1 month') AS m;
    INSERT INTO telemetry SELECT * FROM telemetry_unpartitioned ORDER BY elevator_pk, ts;
    DROP TABLE telemetry_unpartitioned;
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
