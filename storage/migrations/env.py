"""Alembic environment: runs Whistle's SQL migrations on the connection storage hands over."""

from alembic import context

MIGRATION_LOCK = 0x5748_4953  # pg_advisory_xact_lock key ("WHIS"): one migrator at a time

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    context.run_migrations()
