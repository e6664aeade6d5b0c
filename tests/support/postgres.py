"""PostgreSQL for tests, through psycopg2 (the project's one driver): whether the server answers,
a query, and statements outside a transaction (CREATE/DROP DATABASE)."""

from __future__ import annotations

import contextlib

from tests.support.env import PG_ADMIN_URL


def pg_available(url: str = PG_ADMIN_URL) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.Error:
        return False


@contextlib.contextmanager
def pg_connection(url: str = PG_ADMIN_URL, *, autocommit: bool = False, timeout: int = 5):
    """A connection, committed and closed on exit (psycopg2's own context manager only ends the
    transaction)."""
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=timeout)
    conn.autocommit = autocommit  # (`with conn` would open a transaction even then)
    try:
        yield conn
        if not autocommit:
            conn.commit()
    finally:
        conn.close()


def pg_query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with pg_connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def pg_execute(url: str, *statements: str) -> None:
    """Statements run one by one outside a transaction."""
    with pg_connection(url, autocommit=True) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def pg_conninfo(url: str) -> dict[str, str]:
    from psycopg2.extensions import parse_dsn

    return parse_dsn(url)
