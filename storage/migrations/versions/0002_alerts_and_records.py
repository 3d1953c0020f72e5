"""Alerts with their audit trail, inspections (and seals), maintenance records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE elevators
        ADD COLUMN sealed_at  timestamptz,
        ADD COLUMN sealed_by  text;

    CREATE TABLE alerts (
        id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        elevator_pk       integer NOT NULL REFERENCES elevators ON DELETE CASCADE,
        kind              text NOT NULL,
        severity          text NOT NULL
                          CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
        state             text NOT NULL DEFAULT 'open'
                          CHECK (state IN ('open', 'acknowledged', 'resolved')),
        opened_at         timestamptz NOT NULL,      -- when the condition was met (event time)
        raised_at         timestamptz NOT NULL DEFAULT now(),  -- when Whistle raised it
        updated_at        timestamptz NOT NULL DEFAULT now(),
        acknowledged_at   timestamptz,
        acknowledged_by   text,
        arrived_at        timestamptz,
        arrived_by        text,
        resolved_at       timestamptz,
        resolved_by       text,
        note              text,
        escalation_level  smallint NOT NULL DEFAULT 0,
        escalated_at      timestamptz,
        -- the property organization responsible when the alert was raised
        property_org_id   integer REFERENCES orgs,
        details           jsonb NOT NULL DEFAULT '{}'
    );
    -- At most one alert of a kind is open per elevator (CONTRACT section 2).
    CREATE UNIQUE INDEX alerts_one_open ON alerts (elevator_pk, kind) WHERE state <> 'resolved';
    CREATE INDEX alerts_elevator_time ON alerts (elevator_pk, opened_at DESC);
    CREATE INDEX alerts_unresolved ON alerts (state, opened_at) WHERE state <> 'resolved';

    -- Every change of an alert, with who and when: the record of who reported for duty.
    CREATE TABLE alert_events (
        id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        alert_id  bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
        at        timestamptz NOT NULL DEFAULT now(),
        action    text NOT NULL CHECK (action IN ('raised', 'updated', 'acknowledged',
                      'arrived', 'escalated', 'notified', 'resolved', 'noted')),
        actor     text NOT NULL,
        org_id    integer REFERENCES orgs,
        details   jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alert_events_alert ON alert_events (alert_id, at);

    CREATE TABLE inspections (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        elevator_pk   integer NOT NULL REFERENCES elevators ON DELETE CASCADE,
        inspected_at  timestamptz NOT NULL DEFAULT now(),
        result        text NOT NULL,
        notes         text,
        seal          boolean,
        next_due      date,
        org_id        integer REFERENCES orgs,
        recorded_by   text NOT NULL
    );
    CREATE INDEX inspections_elevator ON inspections (elevator_pk, inspected_at DESC);

    CREATE TABLE maintenance_records (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        elevator_pk   integer NOT NULL REFERENCES elevators ON DELETE CASCADE,
        performed_at  timestamptz NOT NULL DEFAULT now(),
        notes         text,
        org_id        integer REFERENCES orgs,
        recorded_by   text NOT NULL
    );
    CREATE INDEX maintenance_elevator ON maintenance_records (elevator_pk, performed_at DESC);
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
