"""API tests share the real server and the standard world of tests/conftest.py."""
