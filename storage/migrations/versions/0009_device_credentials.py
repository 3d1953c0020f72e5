"""Per-device broker credentials (CONTRACT section 8).

Only a hash is kept, in the broker's own format (Mosquitto's PBKDF2-SHA512 with a 12-byte
salt), so the broker's configuration can be rebuilt from the database without any password.
Every issue, replacement and revocation is on the record.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE device_credentials (
        elevator_pk   bigint PRIMARY KEY REFERENCES elevators(pk) ON DELETE CASCADE,
        username      text NOT NULL UNIQUE,
        salt          bytea NOT NULL,
        password_hash bytea NOT NULL,
        iterations    integer NOT NULL CHECK (iterations > 0),
        issued_at     timestamptz NOT NULL DEFAULT now(),
        issued_by     text NOT NULL
    );
    CREATE TABLE device_credential_events (
        id          bigserial PRIMARY KEY,
        elevator_pk bigint NOT NULL REFERENCES elevators(pk) ON DELETE CASCADE,
        action      text NOT NULL CHECK (action IN ('issued', 'replaced', 'revoked')),
        at          timestamptz NOT NULL DEFAULT now(),
        by_actor    text NOT NULL,
        note        text
    );
    CREATE INDEX device_credential_events_elevator ON device_credential_events (elevator_pk, at);
    """)


def downgrade() -> None:
    raise NotImplementedError("Whistle migrations are forward-only; restore a backup instead")
