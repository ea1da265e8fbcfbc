"""Configuration, read once from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

from psycopg.conninfo import make_conninfo

from domain.errors import InvalidInput
from domain.validity import DEFAULT_EXPIRING_DAYS, check_expiring_days

# Tokens signed with this work only outside production; production refuses to start
# without a secret of its own.
DEVELOPMENT_SECRET = "qualify-development-secret-not-for-production-use"
DEFAULT_DATABASE_URL = "sqlite:///var/qualify.db"
MEMORY_URL = "memory://"
DEFAULT_IMPORT_MAX_BYTES = 50 * 1024 * 1024
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class Environment(StrEnum):
    """Where the service runs; production hides the development conveniences."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the product reads from its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret: str = DEVELOPMENT_SECRET
    environment: Environment = Environment.DEVELOPMENT
    import_max_bytes: int = DEFAULT_IMPORT_MAX_BYTES
    expiring_days: int = DEFAULT_EXPIRING_DAYS
    """How many days before its expiry a certificate counts as expiring."""

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``QUALIFY_*`` variables, refusing unsafe or malformed values."""
        env = os.environ if env is None else env
        raw_env = env.get("QUALIFY_ENV", Environment.DEVELOPMENT.value).strip().lower()
        try:
            environment = Environment(raw_env)
        except ValueError:
            raise ConfigurationError(
                f"QUALIFY_ENV must be development or production, not {raw_env!r}."
            ) from None

        secret = env.get("QUALIFY_JWT_SECRET", "")
        if not secret:
            if environment is Environment.PRODUCTION:
                raise ConfigurationError(
                    "QUALIFY_JWT_SECRET must be set in production."
                )
            secret = DEVELOPMENT_SECRET
        elif environment is Environment.PRODUCTION and secret == DEVELOPMENT_SECRET:
            raise ConfigurationError(
                "QUALIFY_JWT_SECRET is the published development secret; production "
                "needs a secret of its own."
            )
        elif len(secret) < 32:
            raise ConfigurationError(
                "QUALIFY_JWT_SECRET must be at least 32 characters long."
            )

        url = env.get("QUALIFY_DATABASE_URL", DEFAULT_DATABASE_URL).strip()
        store_location(url)
        raw_limit = env.get("QUALIFY_IMPORT_MAX_BYTES", str(DEFAULT_IMPORT_MAX_BYTES))
        try:
            import_max_bytes = int(raw_limit)
        except ValueError:
            import_max_bytes = 0
        if import_max_bytes < 1:
            raise ConfigurationError(
                "QUALIFY_IMPORT_MAX_BYTES must be a positive number of bytes, "
                f"not {raw_limit!r}."
            )
        return cls(
            database_url=url,
            jwt_secret=secret,
            environment=environment,
            import_max_bytes=import_max_bytes,
            expiring_days=_expiring_days(env),
        )

    @property
    def is_production(self) -> bool:
        """Whether development conveniences (GraphiQL, demo tokens) are off."""
        return self.environment is Environment.PRODUCTION


def _expiring_days(env: Mapping[str, str]) -> int:
    raw = env.get("QUALIFY_EXPIRING_DAYS", str(DEFAULT_EXPIRING_DAYS)).strip()
    try:
        return check_expiring_days(int(raw))
    except (ValueError, InvalidInput):
        raise ConfigurationError(
            "QUALIFY_EXPIRING_DAYS must be a whole number of days from 0 to 366, "
            f"not {raw!r}."
        ) from None


@dataclass(frozen=True)
class SQLiteLocation:
    """A SQLite file, or ``:memory:``."""

    path: str


@dataclass(frozen=True)
class PostgresLocation:
    """A PostgreSQL database and the schema that holds events and read models."""

    conninfo: str
    schema: str
    dbname: str
    host: str
    port: int
    user: str
    password: str


def store_location(url: str) -> SQLiteLocation | PostgresLocation:
    """Where ``QUALIFY_DATABASE_URL`` points; refused with a reason when malformed."""
    if url == MEMORY_URL:
        return SQLiteLocation(":memory:")
    prefix = "sqlite:///"
    if url.startswith(prefix) and len(url) > len(prefix):
        return SQLiteLocation(url[len(prefix) :])
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres_location(url)
    raise ConfigurationError(
        "QUALIFY_DATABASE_URL must look like sqlite:///var/qualify.db, "
        "postgresql://user@host:5432/dbname (optionally ?schema=name), or "
        f"memory:// for a store that vanishes on exit; not {url!r}."
    )


def _postgres_location(url: str) -> PostgresLocation:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = query.pop("schema", ["public"])[0]
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or query or not _IDENTIFIER.fullmatch(schema):
        raise ConfigurationError(
            "A PostgreSQL QUALIFY_DATABASE_URL names a database and may add only "
            "?schema=name (letters, digits, underscores); "
            f"not {_without_password(url)!r}."
        )
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigurationError("The PostgreSQL port is not a number.") from None

    host = parts.hostname or "127.0.0.1"
    user = unquote(parts.username or "postgres")
    password = unquote(parts.password or "")
    conninfo = make_conninfo(
        dbname=dbname, host=host, port=port, user=user, password=password or None
    )
    return PostgresLocation(conninfo, schema, dbname, host, port, user, password)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
