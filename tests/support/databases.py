"""The two index back ends of the tests: SQLite and PostgreSQL at 127.0.0.1:5432 (user
``postgres``, trust authentication, databases created through the ``test`` database).

PostgreSQL being unreachable is a failure, never a skip: CI must exercise both back ends.
``Backend`` hands out fresh, uniquely named databases for ``dicomkit serve --index`` and drops
them afterwards (the ``backend`` fixture); ``index_database`` makes one empty index for the
archive tests through the Python API (``DICOMKIT_TEST_POSTGRES`` may name another server) and
``emptied`` drops every table of one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("sqlite", "postgresql")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN_DB = "test"
POSTGRES_ADMIN = os.environ.get(
    "DICOMKIT_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test")


class Backend:
    """Hands out fresh indexes: SQLite inside the data folder, or new PostgreSQL databases."""

    def __init__(self, name: str, module: str) -> None:
        self.name = name
        self.module = module
        self.databases: list[str] = []

    @property
    def is_postgresql(self) -> bool:
        return self.name == "postgresql"

    def new_index(self) -> str | None:
        """``--index`` for a fresh index (None: SQLite at ``<data>/index.sqlite``)."""
        if not self.is_postgresql:
            return None
        name = f"dk_{self.module[:30]}_{uuid.uuid4().hex[:10]}".lower()
        with pg_admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return f"{PG_SERVER}/{name}"

    def drop_all(self) -> None:
        if not self.databases:
            return
        with pg_admin() as connection:
            for name in self.databases:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.databases.clear()


def pg_admin() -> Any:
    import psycopg

    try:
        return psycopg.connect(f"{PG_SERVER}/{PG_ADMIN_DB}", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc}", pytrace=False)


def postgres_admin() -> Any:
    import psycopg

    try:
        return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable with {POSTGRES_ADMIN!r}: {exc}. The archive "
                    "tests need it (CI runs them on both index back ends).", pytrace=False)


def postgres_url(database: str) -> str:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_ADMIN)
    user = info.get("user") or "postgres"
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or "5432"
    return f"postgresql://{user}@{host}:{port}/{database}"


@contextmanager
def index_database(backend: str, folder: Path) -> Iterator[str]:
    """An empty index: a SQLite file under ``folder`` or a new PostgreSQL database."""
    if backend == "sqlite":
        yield str(folder / "index.sqlite")
        return
    name = f"dicomkit_test_{uuid.uuid4().hex[:16]}"
    with postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url(name)
    finally:
        with postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def emptied(url: str) -> str:
    """Drop every table, so each test meets a database as new as a created one (and faster)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return url
