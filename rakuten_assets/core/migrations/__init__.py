"""Alembic migrations of the product store (`rakuten_assets.core.store`).

`upgrade_schema(url)` brings any database to the newest revision; `rakuten migrate` calls it, and
so does every `ProductStore` on first use in a process. A database made before migrations existed
(tables created by SQLAlchemy's `create_all`) is recognised by its tables and stamped at the
revision that matches it first. Several processes may start at once (the API, the hub, Dagster):
on PostgreSQL an advisory lock, on SQLite a lock file beside the database, lets one migrate while
the others wait.

New revision (there is no alembic.ini: the configuration is built by `alembic_config`):
`python -c 'from alembic import command; from rakuten_assets.core.migrations import alembic_config;
command.revision(alembic_config(), message="...")'`, then written by hand (no autogenerate at run
time); `tests/core/test_migrations.py` checks that the revisions build exactly the schema the ORM
models describe.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine, make_url

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
# The revision a pre-migration database (made with create_all) corresponds to.
BASELINE_REVISION = "0001"
_PG_LOCK_KEY = 0x52414B55  # "RAKU": the advisory lock every migrating process takes

_done: set[str] = set()
_done_lock = threading.Lock()


def alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _exclusive(engine: Engine):
    """One migrating process at a time per database."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    elif (url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
          and Path(url.database).parent.is_dir()):
        # (No folder: no lock file either; SQLite then says it cannot open the database.)
        from filelock import FileLock

        with FileLock(f"{url.database}.migrate.lock", timeout=120):
            yield
    else:
        yield


@contextmanager
def _atomic_engine(engine: Engine):
    """The engine to migrate with. On SQLite, one whose transactions really contain DDL: the
    sqlite3 module commits before every CREATE TABLE by itself, so a migration interrupted
    half-way (a locked database) left tables without a revision stamp, and every later attempt
    failed with "table load_batches already exists". BEGIN IMMEDIATE also waits (up to the
    30 s busy timeout) for any writer in progress instead of failing in the middle."""
    if engine.url.get_backend_name() != "sqlite":
        yield engine
        return
    from sqlalchemy import create_engine, event

    atomic = create_engine(engine.url, connect_args={"timeout": 30})

    @event.listens_for(atomic, "connect")
    def _manual_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # the module stops issuing BEGIN/COMMIT itself

    @event.listens_for(atomic, "begin")
    def _begin_immediate(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        yield atomic
    finally:
        atomic.dispose()


def upgrade_schema(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the database behind `engine` to `revision`; returns the revision it is at."""
    from alembic import command

    with _exclusive(engine), _atomic_engine(engine) as migrating:
        with migrating.begin() as conn:
            config = alembic_config(conn)
            tables = set(inspect(conn).get_table_names())
            if "alembic_version" not in tables and "products" in tables:
                command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, revision)
    return current_revision(engine)


def ensure_schema(engine: Engine) -> None:
    """`upgrade_schema` once per database and process: the check itself costs a round trip."""
    key = make_url(str(engine.url)).render_as_string(hide_password=False)
    if key in _done:
        return
    with _done_lock:
        if key in _done:
            return
        upgrade_schema(engine)
        _done.add(key)
