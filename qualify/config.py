"""Configuration, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# Tokens signed with this work only outside production; production refuses to start
# without a secret of its own.
DEVELOPMENT_SECRET = "qualify-development-secret-not-for-production-use"
DEFAULT_DATABASE_URL = "sqlite:///var/qualify.db"
MEMORY_URL = "memory://"


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
        sqlite_path(url)
        return cls(database_url=url, jwt_secret=secret, environment=environment)

    @property
    def is_production(self) -> bool:
        """Whether development conveniences (GraphiQL, demo tokens) are off."""
        return self.environment is Environment.PRODUCTION


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///`` URL, or ``:memory:`` for ``memory://``."""
    if url == MEMORY_URL:
        return ":memory:"
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigurationError(
            "QUALIFY_DATABASE_URL must look like sqlite:///var/qualify.db "
            f"(or memory:// for a store that vanishes on exit), not {url!r}."
        )
    return url[len(prefix) :]
