"""People, sessions and revocable tokens; organizations that end their service; the
maintenance organization's history (CONTRACT section 5).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE people (
        id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id         integer NOT NULL REFERENCES orgs,
        login          text NOT NULL CHECK (login ~ '^[^[:space:][:cntrl:]]{1,100}$'),
        name           text NOT NULL,
        phone          text,
        manager        boolean NOT NULL DEFAULT false,
        password_hash  text NOT NULL,          -- argon2id, from argon2-cffi
        created_at     timestamptz NOT NULL DEFAULT now(),
        created_by     text NOT NULL,
        deleted_at     timestamptz,
        deleted_by     text
    );
    -- a login is unique for good (a removed person's login is not given to someone else,
    -- so the audit trail keeps meaning one person)
    CREATE UNIQUE INDEX people_login ON people (lower(login));
    CREATE INDEX people_org ON people (org_id);

    -- Server-side sessions: the cookie holds a random id, the table only its SHA-256.
    CREATE TABLE sessions (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_hash  bytea NOT NULL UNIQUE,
        person_id     integer NOT NULL REFERENCES people ON DELETE CASCADE,
        created_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz NOT NULL,
        last_used_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX sessions_person ON sessions (person_id);

    -- Failed sign-ins, for the per-login lock-out (kept 1 day by housekeeping).
    CREATE TABLE signin_failures (
        login  text NOT NULL,
        at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX signin_failures_login ON signin_failures (lower(login), at DESC);

    ALTER TABLE api_tokens
        ADD COLUMN person_id     integer REFERENCES people,
        ADD COLUMN manager       boolean NOT NULL DEFAULT false,
        ADD COLUMN expires_at    timestamptz,
        ADD COLUMN last_used_at  timestamptz,
        ADD COLUMN created_by    text,
        ADD COLUMN revoked_by    text;

    -- Single-use tickets for EventSource (which cannot send headers): a minute to open a
    -- stream with, standing for the credential that asked for them.
    CREATE TABLE stream_tickets (
        ticket_hash  bytea PRIMARY KEY,
        token_id     integer REFERENCES api_tokens ON DELETE CASCADE,
        session_id   bigint REFERENCES sessions ON DELETE CASCADE,
        admin        boolean NOT NULL DEFAULT false,
        expires_at   timestamptz NOT NULL,
        used_at      timestamptz
    );

    ALTER TABLE orgs
        ADD COLUMN ended_at      timestamptz,   -- end of service from then (may be ahead)
        ADD COLUMN end_reason    text,
        ADD COLUMN ended_by      text,
        ADD COLUMN end_applied   boolean NOT NULL DEFAULT false;
    CREATE INDEX orgs_end_pending ON orgs (ended_at) WHERE ended_at IS NOT NULL
        AND NOT end_applied;

    -- An elevator may be left without a property organization (end of service).
    ALTER TABLE elevator_property ALTER COLUMN org_id DROP NOT NULL;

    -- Who maintained an elevator, from when (the current one is elevators.maintenance_org_id).
    CREATE TABLE elevator_maintenance (
        elevator_pk     integer NOT NULL REFERENCES elevators ON DELETE CASCADE,
        effective_from  timestamptz NOT NULL DEFAULT now(),
        org_id          integer REFERENCES orgs,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        recorded_by     text NOT NULL,
        reason          text
    );
    CREATE INDEX elevator_maintenance_elevator ON elevator_maintenance (elevator_pk,
        effective_from);
    INSERT INTO elevator_maintenance (elevator_pk, effective_from, org_id, recorded_by)
        SELECT pk, registered_at, maintenance_org_id, 'registration' FROM elevators
        WHERE maintenance_org_id IS NOT NULL;
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
