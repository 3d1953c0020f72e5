"""Notifications of alert changes: MQTT publication, signed webhooks with retries, and
storm control that groups many alerts of one site into one message."""
