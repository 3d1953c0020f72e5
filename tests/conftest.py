"""Fixtures: a real PostgreSQL and a real MQTT broker for the whole session.

Set WHISTLE_DATABASE_URL / WHISTLE_MQTT_URL to use existing servers (a fresh database is
created on that server for the session and dropped afterwards); leave them unset and the
embedded PostgreSQL and broker are started in a temporary folder, exactly as the product
would start them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core import logs
from core.settings import Settings
from storage.db import migrate
from tests.builders import World, standard_world
from tests.helpers import ApiServer, free_name, service_dir
from whistle.embedded.broker import EmbeddedBroker
from whistle.embedded.postgres import EmbeddedPostgres

logs.configure("warning")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a maintenance database on a running PostgreSQL server."""
    external = os.environ.get("WHISTLE_DATABASE_URL")
    if external:
        yield external
        return
    with service_dir("whistle-test-pg-") as data:
        pg = EmbeddedPostgres(data)
        url = pg.start()
        try:
            yield url
        finally:
            pg.stop(mode="immediate")


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, migrated database for this test session."""
    name = free_name("whistle_test")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = _with_database(pg_server, name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture()
def db(pg_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the session database, emptied before the test."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'").fetchall()]
        conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        yield conn


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """mqtt://host:port of a running broker."""
    external = os.environ.get("WHISTLE_MQTT_URL")
    if external:
        yield external
        return
    broker = EmbeddedBroker(tmp_path_factory.mktemp("embedded-mqtt"))
    url = broker.start()
    try:
        yield url
    finally:
        broker.stop()


@pytest.fixture()
def api_server(settings: Settings, db: psycopg.Connection) -> Iterator[str]:
    """Base URL (no /api/v1) of the real app under uvicorn, on an empty migrated database."""
    with ApiServer(settings) as url:
        yield url


@pytest.fixture()
def world(api_server: str, settings: Settings, db: psycopg.Connection) -> Iterator[World]:
    """The standard world of tests.api.builders (orgs with tokens, sites, elevators)."""
    assert settings.admin_token is not None
    w = standard_world(api_server, settings.admin_token, db)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture()
def topic_prefix() -> str:
    """A topic prefix no other test uses, so tests can share one broker."""
    return f"t-{uuid.uuid4().hex[:10]}/"


@pytest.fixture()
def settings(pg_url: str, mqtt_url: str, topic_prefix: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test servers, with a private topic space and client id."""
    return Settings(
        database_url=pg_url, mqtt_url=mqtt_url, mqtt_topic_prefix=topic_prefix,
        mqtt_client_id=f"whistle-test-{uuid.uuid4().hex[:8]}", mqtt_session_expiry_s=600,
        admin_token="test-admin-token-" + "x" * 32, data_dir=tmp_path, api_port=0,
        # The tests read English pages unless they ask for another language (?lang=,
        # cookie, Accept-Language); the deployed default is zh-CN (tests/test_i18n.py).
        default_lang="en")
