"""Bearer tokens of both kinds: HS256 with the secret, RS256 with an identity
provider's public key; every forgery is unauthenticated, in our own words."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from domain.errors import Unauthenticated
from domain.principal import Principal, Role
from graph.auth import (
    AUDIENCE,
    TokenCache,
    TokenKeys,
    issue_token,
    principal_from_header,
)
from qualify.config import Settings
from tests.graph.conftest import Server

SECRET = "a-test-secret-that-is-long-enough-0123456789"
NOT_OURS = "The token is not a valid token signed by this service."


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "sub": "amelia.hughes",
        "role": "manager",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(hours=1),
        **overrides,
    }


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hs256_by_hand(secret: bytes, claims: dict[str, Any]) -> str:
    """An HS256 token signed with any bytes at all, as an attacker would sign it."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, default=lambda d: int(d.timestamp())).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


@pytest.fixture(scope="module")
def keys(provider_key: rsa.RSAPrivateKey) -> TokenKeys:
    """Only the identity provider's key: HS256 is not configured."""
    settings = Settings(jwt_secret=None, jwt_public_key=_public_pem(provider_key))
    return TokenKeys.from_settings(settings)


@pytest.fixture(scope="module")
def both(provider_key: rsa.RSAPrivateKey) -> TokenKeys:
    settings = Settings(jwt_secret=SECRET, jwt_public_key=_public_pem(provider_key))
    return TokenKeys.from_settings(settings)


def _tampered(token: str) -> str:
    """``token`` with its claims rewritten after signing: a manager made admin."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    return ".".join([header, _b64(json.dumps(claims).encode()), signature])


def _rs256(key: rsa.RSAPrivateKey, algorithm: str = "RS256", **claims: Any) -> str:
    return jwt.encode(_claims(**claims), _private_pem(key), algorithm=algorithm)


def _refusal(keys: TokenKeys, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        principal_from_header(keys, f"Bearer {token}")
    return refused.value.message


def test_an_rs256_token_from_the_identity_provider_is_accepted(
    keys: TokenKeys, provider_key: rsa.RSAPrivateKey
) -> None:
    principal = principal_from_header(keys, f"Bearer {_rs256(provider_key)}")

    assert principal == Principal("amelia.hughes", Role.MANAGER)


def test_both_kinds_are_accepted_when_both_keys_are_configured(
    both: TokenKeys, provider_key: rsa.RSAPrivateKey
) -> None:
    hs256 = issue_token(SECRET, "bob", Role.LEARNER)

    assert principal_from_header(both, f"Bearer {hs256}") == Principal(
        "bob", Role.LEARNER
    )
    assert principal_from_header(both, f"Bearer {_rs256(provider_key)}") == Principal(
        "amelia.hughes", Role.MANAGER
    )


def test_issue_token_signs_rs256_with_a_private_key(
    keys: TokenKeys, provider_key: rsa.RSAPrivateKey
) -> None:
    token = issue_token(
        _private_pem(provider_key), "Priya.Patel", Role.LEARNER, algorithm="RS256"
    )

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert principal_from_header(keys, f"Bearer {token}") == Principal(
        "priya.patel", Role.LEARNER
    )


Forge = Callable[[rsa.RSAPrivateKey, rsa.RSAPrivateKey], str]


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        pytest.param(
            lambda mine, other: _rs256(mine, exp=datetime.now(UTC) - timedelta(1)),
            "The token has expired; get a new one.",
            id="expired",
        ),
        pytest.param(
            lambda mine, other: _rs256(mine, nbf=datetime.now(UTC) + timedelta(1)),
            "The token is not valid yet.",
            id="not-before",
        ),
        pytest.param(
            lambda mine, other: _rs256(mine, aud="payroll"),
            "The token was issued for another service.",
            id="wrong-audience",
        ),
        pytest.param(
            lambda mine, other: jwt.encode(
                {k: v for k, v in _claims().items() if k != "aud"},
                _private_pem(mine),
                algorithm="RS256",
            ),
            "The token lacks the aud claim.",
            id="no-audience",
        ),
        pytest.param(
            lambda mine, other: _rs256(other), NOT_OURS, id="signed-by-another-key"
        ),
        pytest.param(
            lambda mine, other: jwt.encode(_claims(), None, algorithm="none"),
            NOT_OURS,
            id="alg-none",
        ),
        pytest.param(
            lambda mine, other: _hs256_by_hand(_public_pem(mine).encode(), _claims()),
            NOT_OURS,
            id="hs256-keyed-with-the-public-key",
        ),
        pytest.param(
            lambda mine, other: issue_token(SECRET, "admin", Role.ADMIN),
            NOT_OURS,
            id="hs256-when-only-rs256-is-configured",
        ),
        pytest.param(
            lambda mine, other: _rs256(mine, algorithm="RS512"),
            NOT_OURS,
            id="rs512-with-the-right-key",
        ),
        pytest.param(
            lambda mine, other: _rs256(mine, algorithm="PS256"),
            NOT_OURS,
            id="ps256-with-the-right-key",
        ),
        pytest.param(
            lambda mine, other: jwt.encode(
                _claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"
            ),
            NOT_OURS,
            id="es256",
        ),
        pytest.param(
            lambda mine, other: _tampered(_rs256(mine)),
            NOT_OURS,
            id="claims-changed-after-signing",
        ),
    ],
)
def test_a_forged_or_unfit_token_is_unauthenticated(
    keys: TokenKeys,
    provider_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    forge: Forge,
    message: str,
) -> None:
    assert _refusal(keys, forge(provider_key, other_key)) == message


def test_the_key_confusion_attack_fails_with_both_keys_configured(
    both: TokenKeys, provider_key: rsa.RSAPrivateKey
) -> None:
    forged = _hs256_by_hand(_public_pem(provider_key).encode(), _claims())

    assert _refusal(both, forged) == NOT_OURS


def test_an_rs256_token_is_refused_when_only_hs256_is_configured(
    provider_key: rsa.RSAPrivateKey,
) -> None:
    assert _refusal(TokenKeys(secret=SECRET), _rs256(provider_key)) == NOT_OURS


# Over HTTP


@pytest.fixture
def provider_server(start_server: Any, provider_key: rsa.RSAPrivateKey) -> Server:
    return start_server(jwt_secret=None, jwt_public_key=_public_pem(provider_key))


async def _codes(server: Server, token: str, path: str = "/graphql") -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        if path != "/graphql":
            return await http.get(
                f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}
            )
        return await http.post(
            f"{server.url}/graphql",
            json={"query": "{ codes { totalCount } }"},
            headers={"Authorization": f"Bearer {token}"},
        )


async def test_a_server_with_a_public_key_answers_rs256_tokens(
    provider_server: Server, provider_key: rsa.RSAPrivateKey
) -> None:
    response = await _codes(provider_server, _rs256(provider_key, role="admin"))

    assert response.status_code == 200
    assert response.json()["data"] == {"codes": {"totalCount": 0}}


async def test_the_export_accepts_rs256_tokens_too(
    provider_server: Server, provider_key: rsa.RSAPrivateKey
) -> None:
    response = await _codes(
        provider_server,
        _rs256(provider_key, role="admin"),
        "/exports/training-records.csv",
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda key: _hs256_by_hand(_public_pem(key).encode(), _claims()),
            id="key-confusion",
        ),
        pytest.param(
            lambda key: issue_token(Settings().jwt_secret or "", "admin", Role.ADMIN),
            id="development-secret",
        ),
    ],
)
async def test_a_server_with_only_a_public_key_refuses_hs256_tokens(
    provider_server: Server, provider_key: rsa.RSAPrivateKey, forge: Any
) -> None:
    response = await _codes(provider_server, forge(provider_key))

    assert response.status_code == 401
    assert response.json() == {
        "errors": [{"message": NOT_OURS, "extensions": {"code": "UNAUTHENTICATED"}}]
    }


# The cache of checked tokens


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _hs256(lifetime: timedelta, username: str = "amelia.hughes") -> str:
    return "Bearer " + issue_token(SECRET, username, Role.MANAGER, lifetime)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the library is asked to check, in order."""
    seen: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return seen


def test_a_cached_token_is_not_checked_again_before_it_expires(
    decoded: list[str],
) -> None:
    clock = _Clock()
    cache = TokenCache(TokenKeys(secret=SECRET), clock=clock)
    header = _hs256(timedelta(minutes=5))

    first = cache.principal(header)
    clock.now += 60
    again = cache.principal(header)

    assert first == again == Principal("amelia.hughes", Role.MANAGER)
    assert len(decoded) == 1


def test_a_cached_token_is_checked_again_from_its_expiry_on(
    decoded: list[str],
) -> None:
    clock = _Clock()
    cache = TokenCache(TokenKeys(secret=SECRET), clock=clock)
    header = _hs256(timedelta(minutes=5))
    cache.principal(header)
    expires = cache._known[header][1]

    clock.now = expires - 0.5
    cache.principal(header)
    assert len(decoded) == 1

    clock.now = expires
    cache.principal(header)
    assert len(decoded) == 2


def test_a_refused_token_is_not_kept() -> None:
    cache = TokenCache(TokenKeys(secret=SECRET))
    expired = _hs256(timedelta(seconds=-5))

    for _ in range(2):
        with pytest.raises(Unauthenticated) as refused:
            cache.principal(expired)
        assert refused.value.message == "The token has expired; get a new one."
    with pytest.raises(Unauthenticated):
        cache.principal(None)


def test_the_cache_holds_at_most_its_size_dropping_the_oldest() -> None:
    cache = TokenCache(TokenKeys(secret=SECRET), size=2)
    headers = [_hs256(timedelta(minutes=5), f"user{i}") for i in range(3)]

    for header in headers:
        cache.principal(header)

    assert list(cache._known) == headers[1:]


async def test_a_token_the_server_has_seen_is_refused_once_it_expires(
    server: Server,
) -> None:
    secret = server.backend.settings.jwt_secret or ""
    token = issue_token(secret, "admin", Role.ADMIN, timedelta(seconds=2))
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]

    accepted = await _codes(server, token)
    while datetime.now(UTC).timestamp() < expires:
        await asyncio.sleep(0.1)
    refused = await _codes(server, token)

    assert accepted.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["message"] == (
        "The token has expired; get a new one."
    )
