"""Reaching people (issue 15): duty rosters (weekly shifts and one-off overrides), contact
channels of people and organizations, an organization's SMS gateway, every notification
of a case to a person or an organization's channel, and reminders of the parties called.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- A weekly shift: on ISO weekday `weekday` (1 = Monday) from `starts` to `ends`, local
    -- time of `time_zone`; ends <= starts runs over midnight into the next day (equal: 24 h).
    CREATE TABLE roster_shifts (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id     integer NOT NULL REFERENCES orgs,
        person_id  integer NOT NULL REFERENCES people,
        weekday    smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
        starts     time NOT NULL,
        ends       time NOT NULL,
        time_zone  text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL
    );
    CREATE INDEX roster_shifts_org ON roster_shifts (org_id);

    -- A one-off change: from starts_at to ends_at the person is on duty instead of the
    -- weekly shifts (on_duty) or is not on duty (off).
    CREATE TABLE roster_overrides (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id     integer NOT NULL REFERENCES orgs,
        person_id  integer NOT NULL REFERENCES people,
        starts_at  timestamptz NOT NULL,
        ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
        on_duty    boolean NOT NULL,
        note       text,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL
    );
    CREATE INDEX roster_overrides_org ON roster_overrides (org_id, ends_at);

    -- How to reach a person (person_id set) or an organization by default (person_id
    -- null), in order of position. `secret`: a robot's signing secret; never returned.
    CREATE TABLE contact_channels (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id         integer NOT NULL REFERENCES orgs,
        person_id      integer REFERENCES people,
        position       smallint NOT NULL,
        kind           text NOT NULL CHECK (kind IN ('email', 'sms', 'wecom', 'dingtalk',
                                                      'feishu')),
        target         text NOT NULL,
        secret         text,
        lang           text NOT NULL DEFAULT 'zh-CN',
        failures       integer NOT NULL DEFAULT 0,   -- consecutive failed attempts
        last_error     text,
        last_failed_at timestamptz,
        last_ok_at     timestamptz,
        removed_at     timestamptz,
        -- quiet hours: non-urgent messages skip this channel for the next one
        quiet_from     time,
        quiet_until    time,
        quiet_tz       text,
        CHECK ((quiet_from IS NULL) = (quiet_until IS NULL)
               AND (quiet_from IS NULL) = (quiet_tz IS NULL))
    );
    CREATE INDEX contact_channels_org ON contact_channels (org_id) WHERE removed_at IS NULL;

    -- The organization's SMS gateway: an HTTP request template (README "Reaching people").
    CREATE TABLE sms_gateways (
        org_id        integer PRIMARY KEY REFERENCES orgs,
        url           text NOT NULL,
        method        text NOT NULL DEFAULT 'POST',
        content_type  text NOT NULL DEFAULT 'application/json',
        headers       jsonb NOT NULL DEFAULT '{}',
        body          text NOT NULL,
        api_key       text,
        api_secret    text,
        sign_name     text,
        template_id   text,
        daily_cap     integer NOT NULL DEFAULT 200 CHECK (daily_cap >= 0),
        signing       text NOT NULL DEFAULT 'none' CHECK (signing IN ('none', 'aliyun', 'tencent')),
        updated_at    timestamptz NOT NULL DEFAULT now()
    );

    -- Every message of a case to a person's or an organization's channel (a case table:
    -- written by storage.cases.notifications only).
    CREATE TABLE case_notifications (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        case_ids     bigint[] NOT NULL,
        org_id       integer NOT NULL REFERENCES orgs,
        person_id    integer REFERENCES people,
        recipient    text NOT NULL,
        channel_id   bigint REFERENCES contact_channels,
        channel      text NOT NULL,
        target       text NOT NULL,          -- shown masked
        change       text NOT NULL,
        message      jsonb NOT NULL,
        fallback     bigint[] NOT NULL DEFAULT '{}',
        state        text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'delivered', 'failed',
                                      'skipped')),
        attempt      integer NOT NULL DEFAULT 0,
        next_try_at  timestamptz NOT NULL DEFAULT now(),
        error        text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz
    );
    CREATE INDEX case_notifications_cases ON case_notifications USING gin (case_ids);
    CREATE INDEX case_notifications_due ON case_notifications (next_try_at)
        WHERE state = 'pending';
    CREATE INDEX case_notifications_sms ON case_notifications (org_id, created_at)
        WHERE channel = 'sms';

    -- Silences: notifications of matching alerts wait (the alerts are still recorded and
    -- counted); never for a life-safety kind (the API refuses them).
    CREATE TABLE silences (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        elevator_pk  integer REFERENCES elevators,
        site_id      integer REFERENCES sites,
        kinds        text[] NOT NULL,
        reason       text NOT NULL,
        owner        text NOT NULL,
        org_id       integer REFERENCES orgs,
        created_at   timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL,
        ended_at     timestamptz,
        ended_by     text,
        released_at  timestamptz,   -- when what it held was notified
        CHECK ((elevator_pk IS NULL) <> (site_id IS NULL))
    );
    CREATE INDEX silences_active ON silences (expires_at) WHERE ended_at IS NULL;

    -- an alert's trail says when a silence that held its notifications was over
    ALTER TABLE alert_events DROP CONSTRAINT alert_events_action_check,
        ADD CONSTRAINT alert_events_action_check CHECK (action IN ('raised', 'updated',
            'acknowledged', 'arrived', 'escalated', 'notified', 'resolved', 'noted',
            'unsilenced'));

    ALTER TABLE case_parties
        ADD COLUMN reminded_at  timestamptz,
        ADD COLUMN reminders    integer NOT NULL DEFAULT 0;
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
