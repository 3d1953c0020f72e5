"""Cases (CONTRACT sections 6 and 7): the human response to a problem, the parties that
must report for duty on it, its audit trail and outbox, the alerts it gathers, the
residents' reports, and every elevator's ``report_code`` for the QR sign in the car.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- 16 characters of [A-Za-z0-9] from the 122 random bits of gen_random_uuid() (a strong
    -- random source in core PostgreSQL 13+): about 95 bits once '+', '/' and '=' are gone.
    CREATE FUNCTION whistle_random_code(n integer) RETURNS text LANGUAGE sql VOLATILE
        RETURN substr(translate(encode(decode(
            replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''),
            'hex'), 'base64'), '+/=' || chr(10), ''), 1, n);

    ALTER TABLE elevators ADD COLUMN report_code text NOT NULL UNIQUE
        DEFAULT whistle_random_code(16) CHECK (report_code ~ '^[A-Za-z0-9]{10,64}$');

    CREATE TABLE cases (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind           text NOT NULL CHECK (kind IN ('rescue', 'fault', 'hazard', 'complaint',
                           'responsibility_gap')),
        state          text NOT NULL DEFAULT 'open'
                       CHECK (state IN ('open', 'on_site', 'resolved', 'closed', 'cancelled')),
        elevator_pk    integer REFERENCES elevators ON DELETE CASCADE,  -- null: a whole site
        site_id        integer NOT NULL REFERENCES sites ON DELETE CASCADE,
        source         text NOT NULL
                       CHECK (source IN ('alert', 'report', 'org', 'inspection', 'responsibility')),
        severity       text NOT NULL
                       CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
        description    text NOT NULL DEFAULT '',
        opened_at      timestamptz NOT NULL DEFAULT now(),
        opened_by      text NOT NULL,
        updated_at     timestamptz NOT NULL DEFAULT now(),
        level          smallint NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 3),
        escalated_at   timestamptz,
        overdue        boolean NOT NULL DEFAULT false,
        accept_by      timestamptz NOT NULL,
        arrive_by      timestamptz,
        resolve_by     timestamptz,
        arrived_at     timestamptz,
        resolved_at    timestamptz,
        resolved_by    text,
        cause          text CHECK (cause IS NULL OR cause IN ('external', 'misuse',
                           'door_system', 'drive_or_control', 'mechanical', 'electrical',
                           'maintenance_quality', 'false_alarm', 'other')),
        closed_at      timestamptz,
        closed_by      text,
        cancel_reason  text,
        reopened       integer NOT NULL DEFAULT 0,
        trapped_count  integer CHECK (trapped_count IS NULL OR trapped_count BETWEEN 0 AND 100),
        injured_count  integer CHECK (injured_count IS NULL OR injured_count BETWEEN 0 AND 100),
        rescued_at     timestamptz,
        contact        text,          -- who called it in (POST /cases), for the parties only
        hazards        text[] NOT NULL DEFAULT '{}',
        rectify_by     date
    );
    -- One open case of a kind per elevator (and per site for whole-site cases): the index
    -- settles races between the engine, residents and organizations.
    CREATE UNIQUE INDEX cases_one_open_per_elevator ON cases (elevator_pk, kind)
        WHERE state IN ('open', 'on_site') AND elevator_pk IS NOT NULL;
    CREATE UNIQUE INDEX cases_one_open_per_site ON cases (site_id, kind)
        WHERE state IN ('open', 'on_site') AND elevator_pk IS NULL;
    CREATE INDEX cases_elevator ON cases (elevator_pk, opened_at DESC);
    CREATE INDEX cases_site ON cases (site_id, opened_at DESC);
    CREATE INDEX cases_active ON cases (state, opened_at) WHERE state IN ('open', 'on_site',
        'resolved');

    -- Every organization involved in a case: required ones, and those the climb called.
    CREATE TABLE case_parties (
        case_id      bigint NOT NULL REFERENCES cases ON DELETE CASCADE,
        org_id       integer NOT NULL REFERENCES orgs,
        kind         org_kind NOT NULL,
        required     boolean NOT NULL DEFAULT false,
        level        smallint,
        called_at    timestamptz,
        on_duty_at   timestamptz,
        on_duty_by   text,
        arrived_at   timestamptz,
        arrived_by   text,
        late         boolean NOT NULL DEFAULT false,
        PRIMARY KEY (case_id, org_id)
    );
    CREATE INDEX case_parties_org ON case_parties (org_id, case_id);

    CREATE TABLE case_events (
        id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        case_id  bigint NOT NULL REFERENCES cases ON DELETE CASCADE,
        at       timestamptz NOT NULL DEFAULT now(),
        action   text NOT NULL,
        actor    text NOT NULL,
        org_id   integer REFERENCES orgs,
        details  jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX case_events_case ON case_events (case_id, at);

    -- Case changes waiting to be published (MQTT, webhooks), like alert_outbox.
    CREATE TABLE case_outbox (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        case_id     bigint NOT NULL,
        change      text NOT NULL,
        actor       text NOT NULL,
        details     jsonb NOT NULL DEFAULT '{}',
        "case"      jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    );

    -- The alerts a case gathered; an alert belongs to at most one case.
    CREATE TABLE case_alerts (
        alert_id  bigint PRIMARY KEY REFERENCES alerts ON DELETE CASCADE,
        case_id   bigint NOT NULL REFERENCES cases ON DELETE CASCADE,
        added_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX case_alerts_case ON case_alerts (case_id);

    -- What residents reported from the public page; the reference is the only key to it.
    CREATE TABLE case_reports (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        case_id      bigint NOT NULL REFERENCES cases ON DELETE CASCADE,
        reference    text NOT NULL UNIQUE DEFAULT whistle_random_code(20),
        category     text NOT NULL CHECK (category IN ('trapped', 'stopped', 'door', 'noise',
                         'complaint', 'other')),
        description  text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
        contact      text CHECK (contact IS NULL OR char_length(contact) <= 64),
        received_at  timestamptz NOT NULL DEFAULT now(),
        feedback_at  timestamptz,
        solved       boolean,
        comment      text
    );
    CREATE INDEX case_reports_case ON case_reports (case_id, received_at);
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
