"""Bearer tokens: who a request acts for.

Tokens are JWTs carrying the username (``sub``), the role, the audience and an
expiry. Two kinds are accepted, each only when its key is configured: HS256 signed
with ``QUALIFY_JWT_SECRET`` (what ``qualify token`` issues), and RS256 signed by a
company identity provider whose public key is ``QUALIFY_JWT_PUBLIC_KEY``. The key is
chosen by the algorithm the token names and never by anything else in the token,
so a token naming another algorithm (``none`` included), or an HS256 token keyed
with the public key's text, is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from domain.errors import QualifyError, Unauthenticated
from domain.learners import normalise_username
from domain.principal import Principal, Role
from qualify.config import Settings

ALGORITHM = "HS256"
RS256 = "RS256"
AUDIENCE = "qualify"
DEFAULT_LIFETIME = timedelta(hours=12)
_NOT_OURS = "The token is not a valid token signed by this service."


@dataclass(frozen=True)
class TokenKeys:
    """The keys tokens are checked with; an algorithm without a key is refused."""

    secret: str | None = None
    public_key: RSAPublicKey | None = None
    """The RSA public key for RS256, loaded once."""

    @classmethod
    @lru_cache(maxsize=8)
    def from_settings(cls, settings: Settings) -> TokenKeys:
        public_key = None
        if settings.jwt_public_key is not None:
            # Settings checked that it is an RSA key in PEM form.
            loaded = load_pem_public_key(settings.jwt_public_key.encode("ascii"))
            assert isinstance(loaded, RSAPublicKey)
            public_key = loaded
        return cls(secret=settings.jwt_secret, public_key=public_key)

    def key_for(self, algorithm: str) -> Any:
        """The key for a token naming ``algorithm``, or None when none is accepted."""
        if algorithm == ALGORITHM:
            return self.secret
        if algorithm == RS256:
            return self.public_key
        return None


def issue_token(
    secret: str,
    username: str,
    role: Role,
    lifetime: timedelta = DEFAULT_LIFETIME,
    *,
    algorithm: str = ALGORITHM,
) -> str:
    """A signed token for ``username`` acting in ``role``.

    ``secret`` is the HS256 secret, or for RS256 the PEM text of a private key.
    """
    now = datetime.now(UTC)
    claims = {
        "sub": normalise_username(username),
        "role": role.value,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, secret, algorithm=algorithm)


def principal_from_header(
    keys: TokenKeys | Settings | str, header: str | None
) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or ``Unauthenticated``.

    ``keys`` may also be the settings that name them, or an HS256 secret alone.
    """
    if isinstance(keys, Settings):
        keys = TokenKeys.from_settings(keys)
    elif isinstance(keys, str):
        keys = TokenKeys(secret=keys)
    return _checked(keys, header)[0]


def _checked(keys: TokenKeys, header: str | None) -> tuple[Principal, int]:
    """The principal of ``header`` and the second its token expires at."""
    if not header:
        raise Unauthenticated(
            "Send an Authorization: Bearer <token> header; `qualify token` issues "
            "one for development."
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")

    try:
        named = jwt.get_unverified_header(token.strip()).get("alg")
        algorithm = named if isinstance(named, str) else ""
        key = keys.key_for(algorithm)
        if key is None:
            raise Unauthenticated(_NOT_OURS)
        claims = jwt.decode(
            token.strip(),
            key,
            algorithms=[algorithm],
            audience=AUDIENCE,
            options={"require": ["sub", "exp", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired; get a new one.") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated("The token was issued for another service.") from None
    except jwt.ImmatureSignatureError:
        raise Unauthenticated("The token is not valid yet.") from None
    except jwt.MissingRequiredClaimError as error:
        raise Unauthenticated(f"The token lacks the {error.claim} claim.") from None
    except jwt.InvalidTokenError:
        # The library's own wording can quote the token's bytes; say it plainly.
        raise Unauthenticated(_NOT_OURS) from None

    try:
        role = Role(str(claims.get("role")))
        username = normalise_username(str(claims["sub"]))
    except (ValueError, QualifyError):
        raise Unauthenticated("The token names no known role or user.") from None
    # The library has checked that the expiry reads as a whole number.
    return Principal(username, role), int(claims["exp"])


class TokenCache:
    """Principals of headers already checked, each kept until its token expires.

    Checking a signature and decoding the claims took a fifth of the time of a
    small query, for the same few tokens again and again. A header is kept only
    once its token has passed every check, so one that fails is checked afresh
    each time; a token cannot change once signed, so until it expires it names
    the same principal. Only the oldest entry is dropped when the cache is full.
    """

    def __init__(
        self,
        keys: TokenKeys,
        size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.size = size
        self.clock = clock
        self._known: dict[str, tuple[Principal, int]] = {}

    def principal(self, header: str | None) -> Principal:
        """As ``principal_from_header``, from the cache while the token is valid."""
        if header:
            known = self._known.get(header)
            if known is not None:
                principal, expires = known
                # The library's own test: a token is expired from its exp second.
                if self.clock() < expires:
                    return principal
                del self._known[header]

        principal, expires = _checked(self.keys, header)
        if header:
            if len(self._known) >= self.size:
                del self._known[next(iter(self._known))]
            self._known[header] = (principal, expires)
        return principal
