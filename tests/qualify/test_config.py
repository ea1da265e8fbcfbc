"""Settings read from the environment: production refuses what is only safe at home."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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


# Limits


@pytest.mark.parametrize(
    ("name", "field", "default"),
    [
        ("QUALIFY_MAX_DEPTH", "max_depth", 12),
        ("QUALIFY_MAX_ALIASES", "max_aliases", 30),
        ("QUALIFY_MAX_TOKENS", "max_tokens", 2000),
        ("QUALIFY_MAX_COST", "max_cost", 50_000),
        ("QUALIFY_MAX_BODY_BYTES", "max_body_bytes", 1024 * 1024),
        ("QUALIFY_MAX_PAGE_SIZE", "max_page_size", 100),
    ],
)
def test_each_limit_has_a_default_and_can_be_set(
    name: str, field: str, default: int
) -> None:
    assert getattr(Settings.from_environment({}), field) == default
    assert getattr(Settings.from_environment({name: " 7 "}), field) == 7


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("QUALIFY_MAX_DEPTH", "levels"),
        ("QUALIFY_MAX_ALIASES", "aliases"),
        ("QUALIFY_MAX_TOKENS", "tokens"),
        ("QUALIFY_MAX_COST", "points"),
        ("QUALIFY_MAX_BODY_BYTES", "bytes"),
    ],
)
@pytest.mark.parametrize("raw", ["0", "-3", "1e6", "ten", "1.5"])
def test_a_limit_that_is_not_a_positive_number_is_refused(
    name: str, unit: str, raw: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({name: raw})

    assert str(refused.value) == (
        f"{name} must be a positive number of {unit}, not {raw!r}."
    )


@pytest.mark.parametrize("secret", [" " * 40, "short-but-padded" + " " * 30])
def test_a_secret_padded_out_with_spaces_is_refused(secret: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment(
            {"QUALIFY_ENV": "production", "QUALIFY_JWT_SECRET": secret}
        )

    assert str(refused.value) == (
        "QUALIFY_JWT_SECRET must be at least 32 characters long, not counting "
        "spaces around it."
    )


@pytest.mark.parametrize("raw", ["\uff15", "\u0665"])
def test_a_limit_in_another_scripts_digits_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_MAX_DEPTH": raw})

    assert str(refused.value) == (
        f"QUALIFY_MAX_DEPTH must be a positive number of levels, not {raw!r}."
    )


@pytest.mark.parametrize(
    ("raw", "days"), [(None, 30), ("", 30), (" 45 ", 45), ("0", 0), ("366", 366)]
)
def test_the_expiring_window_has_a_default_and_can_be_set(
    raw: str | None, days: int
) -> None:
    env = {} if raw is None else {"QUALIFY_EXPIRING_DAYS": raw}
    assert Settings.from_environment(env).expiring_days == days


@pytest.mark.parametrize("raw", ["-1", "367", "abc", "30.0", "1e1", "\uff10"])
def test_an_expiring_window_outside_0_to_366_days_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_EXPIRING_DAYS": raw})

    assert str(refused.value) == (
        "QUALIFY_EXPIRING_DAYS must be a whole number of days from 0 to 366, "
        f"not {raw!r}."
    )


def test_the_depth_limit_has_a_ceiling() -> None:
    assert Settings.from_environment({"QUALIFY_MAX_DEPTH": "100"}).max_depth == 100
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_MAX_DEPTH": "101"})

    assert str(refused.value) == (
        "QUALIFY_MAX_DEPTH must be at most 100 levels, not '101'."
    )


# The identity provider's public key


def _rsa_pem(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


@pytest.fixture(scope="module")
def public_pem() -> str:
    return _rsa_pem()


def test_a_public_key_given_as_pem_text_turns_hs256_off(public_pem: str) -> None:
    settings = Settings.from_environment({"QUALIFY_JWT_PUBLIC_KEY": public_pem})

    assert (settings.jwt_public_key, settings.jwt_secret) == (public_pem.strip(), None)


def test_a_public_key_given_as_a_path_is_read(public_pem: str, tmp_path: Any) -> None:
    path = tmp_path / "idp.pem"
    path.write_text(public_pem)

    settings = Settings.from_environment(
        {"QUALIFY_JWT_PUBLIC_KEY": str(path), "QUALIFY_JWT_SECRET": SECRET}
    )

    assert (settings.jwt_public_key, settings.jwt_secret) == (
        public_pem.strip(),
        SECRET,
    )


def test_production_starts_with_a_public_key_alone(public_pem: str) -> None:
    settings = Settings.from_environment(
        {"QUALIFY_ENV": "production", "QUALIFY_JWT_PUBLIC_KEY": public_pem}
    )

    assert settings.jwt_secret is None


def test_a_public_key_file_that_is_missing_is_refused(tmp_path: Any) -> None:
    missing = tmp_path / "nope.pem"

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_JWT_PUBLIC_KEY": str(missing)})

    assert str(refused.value) == (
        f"QUALIFY_JWT_PUBLIC_KEY names a file that cannot be read ({missing}: No "
        "such file or directory); give the PEM text or the path of a PEM file."
    )


def test_text_that_is_not_a_public_key_is_refused() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment(
            {"QUALIFY_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n"}
        )

    assert str(refused.value) == (
        "QUALIFY_JWT_PUBLIC_KEY is not a PEM public key (-----BEGIN PUBLIC KEY-----)."
    )


def test_a_key_that_is_not_rsa_is_refused() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_JWT_PUBLIC_KEY": pem})

    assert str(refused.value) == (
        "QUALIFY_JWT_PUBLIC_KEY must be an RSA key; tokens are checked as RS256."
    )


def test_a_short_rsa_key_is_refused() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_JWT_PUBLIC_KEY": _rsa_pem(1024)})

    assert str(refused.value) == (
        "QUALIFY_JWT_PUBLIC_KEY is a 1024-bit RSA key; use one of at least 2048 bits."
    )


def test_the_page_size_has_a_ceiling() -> None:
    assert Settings.from_environment({"QUALIFY_MAX_PAGE_SIZE": "1000"}).max_page_size
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_MAX_PAGE_SIZE": "1001"})

    assert str(refused.value) == (
        "QUALIFY_MAX_PAGE_SIZE must be at most 1000 items, not '1001'."
    )
