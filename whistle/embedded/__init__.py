"""Embedded PostgreSQL and MQTT broker, started when no external ones are configured."""
