"""The emulator's RSA signing key, its Graph access tokens and notification tokens.

One RSA key signs both kinds of JWT. The key is generated once per process, because
RSA key generation takes tens of milliseconds and tests start many emulators.
Access tokens are checked by looking the token up in the set of tokens this emulator
issued, so a check costs one dictionary lookup and no signature verification.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from calls_async.testing._settings import EmulatorSettings

NOTIFICATION_ISSUER = "https://api.botframework.com"
NOTIFICATION_TOKEN_LIFETIME = 3600
GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_ROLES = (
    "Calls.AccessMedia.All",
    "Calls.Initiate.All",
    "Calls.InitiateGroupCall.All",
    "Calls.JoinGroupCall.All",
    "Calls.JoinGroupCallAsGuest.All",
)

# A cached notification token is signed again when less than this many seconds of
# its lifetime remain, so a bot never receives one that is about to expire.
_RESIGN_MARGIN = 600
# The issued-token table is swept for expired entries once it grows past this size.
_SWEEP_THRESHOLD = 1024


@functools.cache
def _process_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SigningKey:
    """An RS256 key pair with its public JWK and key id."""

    def __init__(self, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.private_key = private_key or _process_private_key()
        public_jwk: dict[str, Any] = RSAAlgorithm.to_jwk(
            self.private_key.public_key(), as_dict=True
        )
        self.key_id = _jwk_thumbprint(public_jwk)
        self.public_jwk = {
            **public_jwk,
            "kid": self.key_id,
            "use": "sig",
            "alg": "RS256",
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": self.key_id}
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}


def _jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of an RSA JWK, base64url-encoded."""
    members = {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class AccessTokenIssuer:
    """Issues Graph access tokens and checks the tokens presented to the Graph API."""

    def __init__(self, key: SigningKey, settings: EmulatorSettings) -> None:
        self._key = key
        self._settings = settings
        self._expiry_by_token: dict[str, float] = {}

    def issue(self, lifetime: float | None = None) -> tuple[str, int]:
        """Return a new access token and its lifetime in whole seconds."""
        if lifetime is None:
            lifetime = self._settings.token_lifetime
        now = time.time()
        if len(self._expiry_by_token) > _SWEEP_THRESHOLD:
            self._sweep(now)

        token = self._key.sign(self._claims(now, lifetime))
        self._expiry_by_token[token] = now + lifetime
        return token, int(lifetime)

    def expires_at(self, token: str) -> float | None:
        """Return when an issued token stops being accepted, or None if unknown."""
        return self._expiry_by_token.get(token)

    def check(self, token: str) -> str | None:
        """Return None if the token is valid, else why it is rejected."""
        expiry = self._expiry_by_token.get(token)
        if expiry is None:
            return (
                "Access token validation failure: the token was not issued by this "
                "emulator or by its current run."
            )
        if time.time() >= expiry:
            return "Lifetime validation failed, the token is expired."
        return None

    def _claims(self, now: float, lifetime: float) -> dict[str, Any]:
        tenant_id = self._settings.tenant_id
        return {
            "aud": GRAPH_AUDIENCE,
            "iss": f"https://sts.windows.net/{tenant_id}/",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + lifetime),
            "appid": self._settings.app_id,
            "app_displayname": self._settings.app_display_name,
            "tid": tenant_id,
            "roles": list(GRAPH_ROLES),
            "sub": self._settings.app_id,
            "ver": "1.0",
            "jti": str(uuid.uuid4()),
        }

    def _sweep(self, now: float) -> None:
        expired = [token for token, exp in self._expiry_by_token.items() if exp <= now]
        for token in expired:
            del self._expiry_by_token[token]


class NotificationTokenSigner:
    """Signs the bearer tokens that authenticate notifications to the bot.

    The claims are the same for every notification, so one token is reused until it
    nears expiry instead of signing one per POST.
    """

    def __init__(self, key: SigningKey, settings: EmulatorSettings) -> None:
        self._key = key
        self._settings = settings
        self._cached_token = ""
        self._cached_expiry = 0.0

    def current_token(self) -> str:
        now = time.time()
        if now > self._cached_expiry - _RESIGN_MARGIN:
            claims = self.claims(now)
            self._cached_token = self._key.sign(claims)
            self._cached_expiry = float(claims["exp"])
        return self._cached_token

    def claims(self, now: float | None = None) -> dict[str, Any]:
        issued_at = int(time.time() if now is None else now)
        return {
            "iss": NOTIFICATION_ISSUER,
            "aud": self._settings.app_id,
            "tid": self._settings.tenant_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + NOTIFICATION_TOKEN_LIFETIME,
        }

    def sign(self, **claim_overrides: Any) -> str:
        """Sign the standard claims with overrides; a None override drops a claim."""
        claims = self.claims()
        for name, value in claim_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self._key.sign(claims)
