"""GitHub Apps: an RSA key pair, one installation, RS256 JWTs in and installation tokens out.

An app authenticates with a JWT it signs with its private key (``iss`` = the app id, ``iat``/``exp``
no more than ten minutes apart in the future, as GitHub requires); with it, it may read ``/app``, find
a repository's installation and mint an installation token, which acts as ``<slug>[bot]`` with the
app's permissions until ``expires_at`` and then answers 401 ``Bad credentials``. ``cryptography`` and
``PyJWT`` (both PyGithub dependencies) are imported only when an app is added or a JWT arrives.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kodo_bot.sandbox.github_emulator._errors import ApiError
from kodo_bot.sandbox.github_emulator._models import Token

if TYPE_CHECKING:
    from kodo_bot.sandbox.github_emulator._store import Store

_JWT_DOCS = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
#: GitHub refuses a JWT whose ``exp`` is more than ten minutes ahead; a minute of clock drift is allowed
_MAX_JWT_S = 600
_DRIFT_S = 60


@dataclass
class App:
    """A GitHub App with one installation. ``private_key_pem`` is what its owner downloads."""

    app_id: int
    slug: str
    owner: str
    private_key_pem: str
    installation_id: int
    permissions: dict[str, str]
    repos: frozenset[str] | None  # None: all repositories of the installation's account
    token_lifetime_s: int
    created_at: datetime
    public_key_pem: str = field(repr=False, default="")

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


def new_key_pair() -> tuple[str, str]:
    """A fresh 2048-bit RSA key pair as PEM text (private, public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("ey")


def authenticate_jwt(store: Store, value: str) -> Token:
    """The app a JWT speaks for, as a token that may only use the app routes; GitHub's 401 otherwise."""
    import jwt

    try:
        claims = jwt.decode(value, options={"verify_signature": False})
        app = store.apps.get(int(str(claims.get("iss"))))
    except (jwt.PyJWTError, ValueError):
        raise _bad_jwt("A JSON web token could not be decoded") from None
    if app is None:
        raise _bad_jwt("A JSON web token could not be decoded")
    try:
        claims = jwt.decode(
            value, app.public_key_pem, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
        )
    except jwt.PyJWTError:
        raise _bad_jwt("A JSON web token could not be decoded") from None
    _check_times(claims, store.clock())
    return Token(value, app.bot_login, permissions={}, app_id=app.app_id)


def _check_times(claims: dict[str, Any], now: datetime) -> None:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise _bad_jwt(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued."
        )
    moment = now.timestamp()
    if iat > moment + _DRIFT_S:
        raise _bad_jwt("'Issued at' claim ('iat') must be an Integer representing a time in the past.")
    if exp <= moment:
        raise _bad_jwt(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the "
            "assertion expires."
        )
    if exp > moment + _MAX_JWT_S + _DRIFT_S:
        raise _bad_jwt("'Expiration time' claim ('exp') is too far in the future.")


def mint_token(store: Store, app: App) -> Token:
    """An installation token for ``app``, registered with the store."""
    expires = store.clock() + timedelta(seconds=app.token_lifetime_s)
    token = Token(f"ghs_{secrets.token_hex(18)}", app.bot_login, dict(app.permissions), app.repos, expires_at=expires)
    return store.add_token(token)


def _bad_jwt(message: str) -> ApiError:
    return ApiError(401, message, docs=_JWT_DOCS)
