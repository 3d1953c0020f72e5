"""Identifiers of Chinese practice (CONTRACT section 9): the 20-character equipment
registration code and the 5 or 6 digit rescue code of the car's emergency sign, unique in
its district.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE elevators
        ADD COLUMN registration_code text
            CHECK (registration_code IS NULL OR char_length(registration_code) = 20),
        ADD COLUMN rescue_code text CHECK (rescue_code IS NULL OR rescue_code ~ '^[0-9]{5,6}$'),
        -- the district the rescue code was given in (the site's, copied at registration):
        -- a unique index can then keep one code per district under concurrent writes
        ADD COLUMN rescue_district text;
    CREATE UNIQUE INDEX elevators_rescue_code_per_district
        ON elevators (rescue_district, rescue_code) WHERE rescue_code IS NOT NULL;
    CREATE UNIQUE INDEX elevators_registration_code
        ON elevators (registration_code) WHERE registration_code IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE elevators DROP COLUMN registration_code, DROP COLUMN rescue_code,
        DROP COLUMN rescue_district;
    """)
