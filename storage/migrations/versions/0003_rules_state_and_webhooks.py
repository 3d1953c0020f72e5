"""Rule state, the alert outbox (notifications), webhooks and their deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- The detection engine's per-elevator state, saved periodically and on stop.
    CREATE TABLE rule_state (
        elevator_pk  integer PRIMARY KEY REFERENCES elevators ON DELETE CASCADE,
        blob         bytea NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now()
    );

    -- Every state change of an alert, with the alert object right after it, waiting to be
    -- published (MQTT lift/{id}/alerts, webhooks). Written in the transaction that makes
    -- the change, so nothing is lost when the rules service is down; deleted once handled.
    CREATE TABLE alert_outbox (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        alert_id    bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
        change      text NOT NULL,
        actor       text NOT NULL,
        details     jsonb NOT NULL DEFAULT '{}',
        alert       jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE webhooks (
        id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org_id      integer NOT NULL REFERENCES orgs ON DELETE CASCADE,
        url         text NOT NULL CHECK (url ~ '^https?://'),
        secret      text NOT NULL,   -- kept in clear: it keys the HMAC of every delivery
        created_at  timestamptz NOT NULL DEFAULT now(),
        UNIQUE (org_id, url)
    );

    -- One row per attempt. An attempt is due at due_at; a failed attempt names when the
    -- next one is scheduled (next_try_at), or NULL when Whistle gave up.
    CREATE TABLE webhook_deliveries (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        webhook_id     integer NOT NULL REFERENCES webhooks ON DELETE CASCADE,
        message_id     uuid NOT NULL,          -- the same for every attempt of one message
        event          text NOT NULL,
        alert_ids      bigint[] NOT NULL DEFAULT '{}',
        body           bytea NOT NULL,         -- the exact bytes that are signed and sent
        attempt        smallint NOT NULL DEFAULT 1 CHECK (attempt >= 1),
        status         text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
        due_at         timestamptz NOT NULL DEFAULT now(),
        attempted_at   timestamptz,
        response_code  smallint,
        error          text,
        next_try_at    timestamptz,
        created_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (message_id, webhook_id, attempt)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_at)
        WHERE status IN ('pending', 'sending');
    CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id DESC);

    -- Late rescues (details.rescue.late) are what supervision reports on.
    CREATE INDEX alerts_rescue_late ON alerts (opened_at)
        WHERE (details -> 'rescue' ->> 'late') = 'true';
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
