"""Real PostgreSQL and Redis on 127.0.0.1 for the production-path tests; skipped with a reason when absent."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

PG_HOST = os.environ.get("HERALD_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HERALD_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HERALD_TEST_PG_USER", "postgres")


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL; yields its SQLAlchemy URL (psycopg2 driver)."""
    if not _listening(PG_HOST, PG_PORT):
        pytest.skip(f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT}")
    import psycopg2

    name = f"herald_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
