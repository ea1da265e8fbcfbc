"""Configuration, read once from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from psycopg.conninfo import make_conninfo

from domain.errors import InvalidInput
from domain.validity import DEFAULT_EXPIRING_DAYS, check_expiring_days

# Tokens signed with this work only outside production; production refuses to start
# without a secret of its own.
DEVELOPMENT_SECRET = "qualify-development-secret-not-for-production-use"
DEFAULT_DATABASE_URL = "sqlite:///var/qualify.db"
MEMORY_URL = "memory://"
DEFAULT_IMPORT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_DEPTH = 12
# Past this the query text itself nests deeper than the parser is asked to follow.
MAX_DEPTH_CEILING = 100
DEFAULT_MAX_ALIASES = 30
DEFAULT_MAX_TOKENS = 2000
# A full page of 100 training records asking for every field of both nodes and
# edges costs about 2,400; this allows some twenty such pages in one request, and
# refuses thirty aliased copies of one, which is what a hostile query looks like.
DEFAULT_MAX_COST = 50_000
DEFAULT_MAX_PAGE_SIZE = 100
# Beyond this a page is no longer a page: an export is the way to read everything.
MAX_PAGE_SIZE_CEILING = 1000
# RSA keys shorter than this can be factored by a determined attacker.
MIN_RSA_KEY_BITS = 2048
PEM_PREFIX = "-----BEGIN"
# PostgreSQL cuts every name to 63 bytes, and a rebuild works in "<schema>_rebuild":
# past 55 characters that name would be cut back to the live schema's own, and the
# rebuild would empty the live schema.
MAX_SCHEMA_LENGTH = 63 - len("_rebuild")
# Lower case only: the event store names its schema unquoted, so PostgreSQL folds
# it to lower case, while the read models quote theirs and keep it as given.
_SCHEMA = re.compile(rf"[a-z_][a-z0-9_]{{0,{MAX_SCHEMA_LENGTH - 1}}}")
# PostgreSQL's own schemas, which hold its catalogues, not a store.
_RESERVED_SCHEMA = re.compile(r"pg_.*|information_schema")
SCHEMA_RULE = (
    "lower-case letters, digits and underscores, starting with a letter or "
    f"underscore but not with pg_, at most {MAX_SCHEMA_LENGTH} characters, and "
    "not information_schema"
)


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
    jwt_secret: str | None = DEVELOPMENT_SECRET
    """The HS256 secret; None when only RS256 tokens are accepted."""
    environment: Environment = Environment.DEVELOPMENT
    import_max_bytes: int = DEFAULT_IMPORT_MAX_BYTES
    expiring_days: int = DEFAULT_EXPIRING_DAYS
    """How many days before its expiry a certificate counts as expiring."""
    jwt_public_key: str | None = None
    """PEM text of the identity provider's RSA key, for RS256 tokens."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_aliases: int = DEFAULT_MAX_ALIASES
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_cost: int = DEFAULT_MAX_COST
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE

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

        public_key = _public_key(env.get("QUALIFY_JWT_PUBLIC_KEY", ""))
        secret: str | None = env.get("QUALIFY_JWT_SECRET", "")
        if not secret:
            if public_key is not None:
                # A company identity provider signs the tokens: the published
                # development secret must not open a second way in.
                secret = None
            elif environment is Environment.PRODUCTION:
                raise ConfigurationError(
                    "QUALIFY_JWT_SECRET or QUALIFY_JWT_PUBLIC_KEY must be set in "
                    "production."
                )
            else:
                secret = DEVELOPMENT_SECRET
        elif environment is Environment.PRODUCTION and secret == DEVELOPMENT_SECRET:
            raise ConfigurationError(
                "QUALIFY_JWT_SECRET is the published development secret; production "
                "needs a secret of its own."
            )
        elif len(secret.strip()) < 32:
            # Spaces around a secret are a slip in the configuration, not entropy.
            raise ConfigurationError(
                "QUALIFY_JWT_SECRET must be at least 32 characters long, not "
                "counting spaces around it."
            )

        url = env.get("QUALIFY_DATABASE_URL", DEFAULT_DATABASE_URL).strip()
        store_location(url)
        return cls(
            database_url=url,
            jwt_secret=secret,
            environment=environment,
            import_max_bytes=_count(
                env, "QUALIFY_IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX_BYTES, "bytes"
            ),
            jwt_public_key=public_key,
            max_body_bytes=_count(
                env, "QUALIFY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, "bytes"
            ),
            max_depth=_count(
                env,
                "QUALIFY_MAX_DEPTH",
                DEFAULT_MAX_DEPTH,
                "levels",
                ceiling=MAX_DEPTH_CEILING,
            ),
            max_aliases=_count(
                env, "QUALIFY_MAX_ALIASES", DEFAULT_MAX_ALIASES, "aliases"
            ),
            max_tokens=_count(env, "QUALIFY_MAX_TOKENS", DEFAULT_MAX_TOKENS, "tokens"),
            max_cost=_count(env, "QUALIFY_MAX_COST", DEFAULT_MAX_COST, "points"),
            max_page_size=_count(
                env,
                "QUALIFY_MAX_PAGE_SIZE",
                DEFAULT_MAX_PAGE_SIZE,
                "items",
                ceiling=MAX_PAGE_SIZE_CEILING,
            ),
            expiring_days=_expiring_days(env),
        )

    @property
    def is_production(self) -> bool:
        """Whether development conveniences (GraphiQL, demo tokens) are off."""
        return self.environment is Environment.PRODUCTION


def _expiring_days(env: Mapping[str, str]) -> int:
    raw = env.get("QUALIFY_EXPIRING_DAYS", "").strip()
    if not raw:
        return DEFAULT_EXPIRING_DAYS
    try:
        # ASCII digits only: int() would also read other scripts' digits.
        if not (raw.isascii() and raw.isdigit()):
            raise ValueError(raw)
        return check_expiring_days(int(raw))
    except (ValueError, InvalidInput):
        raise ConfigurationError(
            "QUALIFY_EXPIRING_DAYS must be a whole number of days from 0 to 366, "
            f"not {raw!r}."
        ) from None


def _count(
    env: Mapping[str, str],
    name: str,
    default: int,
    unit: str,
    *,
    ceiling: int | None = None,
) -> int:
    """A positive whole number read from ``name``, refused when it is anything else."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    # ASCII digits only: int() would also read other scripts' digits.
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if value < 1:
        raise ConfigurationError(
            f"{name} must be a positive number of {unit}, not {raw!r}."
        )
    if ceiling is not None and value > ceiling:
        raise ConfigurationError(
            f"{name} must be at most {ceiling} {unit}, not {raw!r}."
        )
    return value


def _public_key(raw: str) -> str | None:
    """The PEM text of QUALIFY_JWT_PUBLIC_KEY, given as the text or a file's path."""
    raw = raw.strip()
    if not raw:
        return None
    if raw.startswith(PEM_PREFIX):
        pem = raw
    else:
        try:
            pem = Path(raw).read_text(encoding="ascii").strip()
        except (OSError, UnicodeError) as error:
            reason = getattr(error, "strerror", None) or "not PEM text"
            raise ConfigurationError(
                f"QUALIFY_JWT_PUBLIC_KEY names a file that cannot be read ({raw}: "
                f"{reason}); give the PEM text or the path of a PEM file."
            ) from None
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeError):
        raise ConfigurationError(
            "QUALIFY_JWT_PUBLIC_KEY is not a PEM public key "
            "(-----BEGIN PUBLIC KEY-----)."
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise ConfigurationError(
            "QUALIFY_JWT_PUBLIC_KEY must be an RSA key; tokens are checked as RS256."
        )
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ConfigurationError(
            f"QUALIFY_JWT_PUBLIC_KEY is a {key.key_size}-bit RSA key; use one of "
            f"at least {MIN_RSA_KEY_BITS} bits."
        )
    return pem


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
    # Blank values kept: "?schema=" must be refused, not read as no schema at all.
    query = parse_qs(parts.query, keep_blank_values=True)
    schemas = query.pop("schema", ["public"])
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or query:
        raise ConfigurationError(
            "A PostgreSQL QUALIFY_DATABASE_URL names a database and may add only "
            f"?schema=name; not {_without_password(url)!r}."
        )
    schema = _schema(schemas)
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


def _schema(given: list[str]) -> str:
    """The one schema ``?schema=`` names, refused unless it is a safe name."""
    if len(given) > 1:
        raise ConfigurationError(
            f"QUALIFY_DATABASE_URL gives ?schema= {len(given)} times "
            f"({', '.join(map(repr, given))}); give it once."
        )
    schema = given[0]
    if not schema:
        raise ConfigurationError(
            "QUALIFY_DATABASE_URL gives an empty ?schema=; name a schema, or leave "
            "?schema= out for public."
        )
    if not _SCHEMA.fullmatch(schema) or _RESERVED_SCHEMA.fullmatch(schema):
        raise ConfigurationError(
            f"The ?schema= of QUALIFY_DATABASE_URL must be {SCHEMA_RULE}; "
            f"not {schema!r}."
        )
    return schema


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
