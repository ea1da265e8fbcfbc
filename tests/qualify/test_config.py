"""Settings read from the environment: production refuses what is only safe at home."""

from __future__ import annotations

import pytest

from qualify.config import (
    DEVELOPMENT_SECRET,
    ConfigurationError,
    Environment,
    Settings,
)

SECRET = "a-production-secret-that-is-long-enough-0123"


@pytest.mark.parametrize("environment", ["production", " Production "])
def test_production_refuses_the_published_development_secret(
    environment: str,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment(
            {"QUALIFY_ENV": environment, "QUALIFY_JWT_SECRET": DEVELOPMENT_SECRET}
        )

    assert str(refused.value) == (
        "QUALIFY_JWT_SECRET is the published development secret; production needs "
        "a secret of its own."
    )


def test_production_starts_with_a_secret_of_its_own() -> None:
    settings = Settings.from_environment(
        {"QUALIFY_ENV": "production", "QUALIFY_JWT_SECRET": SECRET}
    )

    assert (settings.environment, settings.jwt_secret) == (
        Environment.PRODUCTION,
        SECRET,
    )
    assert settings.is_production is True


def test_production_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_ENV": "production"})

    assert str(refused.value) == (
        "QUALIFY_JWT_SECRET or QUALIFY_JWT_PUBLIC_KEY must be set in production."
    )


@pytest.mark.parametrize(
    "env",
    [{}, {"QUALIFY_JWT_SECRET": DEVELOPMENT_SECRET}],
    ids=["unset", "set-explicitly"],
)
def test_development_uses_the_development_secret(env: dict[str, str]) -> None:
    settings = Settings.from_environment(env)

    assert (settings.environment, settings.jwt_secret) == (
        Environment.DEVELOPMENT,
        DEVELOPMENT_SECRET,
    )
