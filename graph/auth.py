"""Bearer tokens: who a request acts for.

Tokens are JWTs signed with HS256 and the configured secret. They carry the username
(``sub``), the role, and an expiry; the algorithm is fixed, so a token that names
another algorithm (``none`` included) is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from domain.errors import QualifyError, Unauthenticated
from domain.learners import normalise_username
from domain.principal import Principal, Role

ALGORITHM = "HS256"
AUDIENCE = "qualify"
DEFAULT_LIFETIME = timedelta(hours=12)


def issue_token(
    secret: str,
    username: str,
    role: Role,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """A signed token for ``username`` acting in ``role``."""
    now = datetime.now(UTC)
    claims = {
        "sub": normalise_username(username),
        "role": role.value,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def principal_from_header(secret: str, header: str | None) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or ``Unauthenticated``."""
    if not header:
        raise Unauthenticated(
            "Send an Authorization: Bearer <token> header; `qualify token` issues "
            "one for development."
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")

    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=[ALGORITHM],
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
        raise Unauthenticated(
            "The token is not a valid token signed by this service."
        ) from None

    try:
        role = Role(str(claims.get("role")))
        username = normalise_username(str(claims["sub"]))
    except (ValueError, QualifyError):
        raise Unauthenticated("The token names no known role or user.") from None
    return Principal(username, role)
