"""Throwaway databases on the local PostgreSQL (127.0.0.1:5432, user postgres, trust auth).

The benchmark puts the warehouse (`SALES_WAREHOUSE=postgresql://...`) or the Dagster instance
on a database it creates for the measurement and drops afterwards, so runs never see each
other's rows and nothing is left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

HOST, PORT, USER, ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
# SQLAlchemy 2.1 maps plain `postgresql` to psycopg 3; dagster-postgres ships psycopg2.
INSTANCE_SCHEME = "postgresql+psycopg2"


def _admin():
    import psycopg2

    try:
        connection = psycopg2.connect(
            host=HOST, port=PORT, user=USER, dbname=ADMIN_DB, connect_timeout=10
        )
    except psycopg2.OperationalError as error:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {HOST}:{PORT} (user {USER}, database "
            f"{ADMIN_DB}): {error}"
        ) from None
    connection.autocommit = True
    return connection


def create_database(prefix: str) -> str:
    """A new empty database named `prefix_<random>`; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connection = _admin()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return name


def drop_database(name: str) -> None:
    """Drop `name`, ending any session still connected to it."""
    connection = _admin()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        connection.close()


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A database for the block, dropped when it ends."""
    name = create_database(prefix)
    try:
        yield name
    finally:
        drop_database(name)


def warehouse_url(name: str) -> str:
    """`SALES_WAREHOUSE` for database `name`."""
    return f"postgresql://{USER}@{HOST}:{PORT}/{name}"


def instance_storage(name: str) -> dict:
    """The `storage:` section of a dagster.yaml that puts the instance on database `name`."""
    db = {"hostname": HOST, "port": PORT, "username": USER, "password": ""}
    return {"postgres": {"postgres_db": {**db, "db_name": name, "scheme": INSTANCE_SCHEME}}}


def read_table(url: str, schema: str, table: str):
    """A whole warehouse table as an Arrow table (ADBC, binary COPY out)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{schema}"."{table}"')
        return cursor.fetch_arrow_table()
