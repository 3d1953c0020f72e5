"""Registry (organizations, tokens, sites, elevators, property history), telemetry, rejects.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TYPE org_kind AS ENUM
        ('admin', 'property', 'maintenance', 'supervision', 'community', 'street', 'rescue');
    -- Telemetry stores door, power and mode as small codes (fixed width, so batches can be
    -- written with binary COPY straight from numpy); these functions turn them back.
    CREATE FUNCTION door_name(code smallint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN (ARRAY['closed', 'opening', 'open', 'closing'])[code + 1];
    CREATE FUNCTION power_name(code smallint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN (ARRAY['mains', 'backup', 'none'])[code + 1];
    CREATE FUNCTION mode_name(code smallint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN (ARRAY['normal', 'inspection', 'maintenance', 'fire', 'out_of_service'])[code + 1];

    CREATE TABLE orgs (
        id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name        text NOT NULL UNIQUE,
        kind        org_kind NOT NULL,
        district    text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT district_for_district_kinds CHECK (
            kind NOT IN ('supervision', 'community', 'street', 'rescue') OR district IS NOT NULL)
    );

    -- Tokens are 256-bit random strings, so a plain SHA-256 is a safe one-way store.
    CREATE TABLE api_tokens (
        id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id       integer NOT NULL REFERENCES orgs ON DELETE CASCADE,
        token_hash   bytea NOT NULL UNIQUE,
        label        text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        revoked_at   timestamptz
    );

    CREATE TABLE sites (
        id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name             text NOT NULL,
        address          text NOT NULL,
        district         text NOT NULL,
        property_org_id  integer NOT NULL REFERENCES orgs,
        created_at       timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, address)
    );
    CREATE INDEX sites_district ON sites (district);

    -- pk is the compact key telemetry refers to; id is the public elevator_id of the contract.
    CREATE TABLE elevators (
        pk                   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id                   text NOT NULL UNIQUE CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
        site_id              integer NOT NULL REFERENCES sites,
        name                 text NOT NULL,
        rated_speed_mps      real NOT NULL CHECK (rated_speed_mps > 0),
        rated_load_kg        real NOT NULL CHECK (rated_load_kg > 0),
        min_floor            integer NOT NULL,
        max_floor            integer NOT NULL,
        travel_m             real NOT NULL CHECK (travel_m > 0),
        landings_m           real[] NOT NULL,
        model                text,
        maintenance_org_id   integer REFERENCES orgs,
        next_inspection_due  date,
        registered_at        timestamptz NOT NULL DEFAULT now(),
        CHECK (max_floor > min_floor),
        CHECK (cardinality(landings_m) = max_floor - min_floor + 1)
    );
    CREATE INDEX elevators_site ON elevators (site_id);
    CREATE INDEX elevators_maintenance ON elevators (maintenance_org_id);

    -- Who was the property organization of an elevator, from when. The current one is
    -- the latest row whose effective_from has passed; the rows are never deleted.
    CREATE TABLE elevator_property (
        elevator_pk     integer NOT NULL REFERENCES elevators ON DELETE CASCADE,
        effective_from  timestamptz NOT NULL,
        org_id          integer NOT NULL REFERENCES orgs,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        recorded_by     text NOT NULL,
        PRIMARY KEY (elevator_pk, effective_from)
    );
    CREATE INDEX elevator_property_org ON elevator_property (org_id);

    CREATE VIEW elevator_current_property AS
        SELECT DISTINCT ON (elevator_pk) elevator_pk, org_id, effective_from
          FROM elevator_property
         WHERE effective_from <= now()
         ORDER BY elevator_pk, effective_from DESC;

    CREATE TABLE telemetry (
        elevator_pk   integer NOT NULL,
        ts            timestamptz NOT NULL,
        seq           bigint,
        floor         smallint NOT NULL,
        pos_m         real,
        speed_mps     real NOT NULL,
        door          smallint NOT NULL CHECK (door BETWEEN 0 AND 3),
        door_lock     boolean,
        safety_chain  boolean,
        level_mm      real,
        load_kg       real,
        occupied      boolean,
        alarm         boolean,
        motor_temp_c  real,
        power         smallint CHECK (power BETWEEN 0 AND 2),
        mode          smallint CHECK (mode BETWEEN 0 AND 4),
        fault         text,
        vib_rms       real,
        vib_p2p       real
    );
    -- Deduplication of redelivered samples, and the (elevator, time) index of every query.
    CREATE UNIQUE INDEX telemetry_dedup ON telemetry (elevator_pk, ts, seq) NULLS NOT DISTINCT;

    -- What the ingester knows of each elevator right now.
    CREATE TABLE elevator_state (
        elevator_pk     integer PRIMARY KEY REFERENCES elevators ON DELETE CASCADE,
        last_seen       timestamptz,   -- service clock: last message of any kind
        data_at         timestamptz,   -- service clock: last telemetry
        last_ts         timestamptz,   -- device clock: newest sample
        latest          jsonb,
        connection      text CHECK (connection IN ('online', 'offline')),
        connection_ts   timestamptz,
        connection_at   timestamptz
    );

    CREATE TABLE connection_events (
        elevator_pk  integer NOT NULL REFERENCES elevators ON DELETE CASCADE,
        state        text NOT NULL CHECK (state IN ('online', 'offline')),
        ts           timestamptz NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now()
    );
    -- A retained state is delivered again on every resubscription: record it once.
    CREATE UNIQUE INDEX connection_events_once ON connection_events (elevator_pk, ts, state);

    CREATE TABLE ingest_rejects (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at   timestamptz NOT NULL DEFAULT now(),
        topic         text NOT NULL,
        elevator_id   text,
        reason        text NOT NULL,
        detail        text NOT NULL,
        payload       bytea NOT NULL,
        payload_size  integer NOT NULL
    );
    CREATE INDEX ingest_rejects_time ON ingest_rejects (received_at);
    """)
    # Plain PostgreSQL gets a BRIN index on time; TimescaleDB turns the table into a
    # hypertable instead (chunks are time-ordered already). Both paths live in one module.
    from storage import timescale

    timescale.setup_telemetry(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
