"""NotificationTokenValidator against real RS256 tokens and key servers on loopback.

Most tests use the emulator's signing key and its served OpenID configuration and
JWKS. The key cache tests use a small JWKS server defined here, which counts the
requests it receives and can change the keys it serves or fail on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from calls_async import _inbound_auth
from calls_async._errors import CallsError, ClientClosedError
from calls_async._inbound_auth import (
    DEFAULT_ISSUERS,
    InvalidNotificationToken,
    NotificationClaims,
    NotificationTokenValidator,
)
from calls_async.testing import Emulator

LOGGER_NAME = "calls_async.notifications.auth"
APP_ID = "a1b2c3d4-0000-4000-8000-00000000ap01"
TENANT_ID = "a1b2c3d4-0000-4000-8000-00000000te01"
ISSUER = "https://api.botframework.com"


# --- keys and tokens --------------------------------------------------------------


class SigningKey:
    """An RSA key pair of the test's own, with a key id and its public JWK."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self.private_key = _rsa_private_key(key_id)
        self.public_jwk: dict[str, Any] = {
            **RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True),
            "kid": key_id,
            "use": "sig",
            "alg": "RS256",
        }

    def sign(self, claims: dict[str, Any], *, with_kid: bool = True) -> str:
        headers = {"kid": self.key_id} if with_kid else None
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers=headers)


@functools.cache
def _rsa_private_key(name: str) -> rsa.RSAPrivateKey:
    # Cached by name because generating a 2048-bit key takes tens of milliseconds.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def standard_claims(**overrides: Any) -> dict[str, Any]:
    """Return the claims of a valid notification token. A None override drops one."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": APP_ID,
        "tid": TENANT_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def bearer(token: str) -> str:
    return f"Bearer {token}"


# --- a JWKS server that the tests control -------------------------------------------


class KeyServer:
    """An OpenID configuration and JWKS on 127.0.0.1 that counts its requests."""

    def __init__(self, *keys: SigningKey) -> None:
        self.jwks: Any = {"keys": [key.public_jwk for key in keys]}
        self.jwks_status = 200
        self.jwks_body: bytes | None = None
        self.jwks_uri: str | None = None
        self.delay = 0.0
        self.configuration_requests = 0
        self.jwks_requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    @property
    def openid_configuration_url(self) -> str:
        return f"{self.url}/v1/.well-known/OpenIdConfiguration"

    def serve_keys(self, *keys: SigningKey) -> None:
        self.jwks = {"keys": [key.public_jwk for key in keys]}

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/.well-known/OpenIdConfiguration", self._configuration)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _configuration(self, request: web.Request) -> web.Response:
        self.configuration_requests += 1
        jwks_uri = self.jwks_uri or f"{self.url}/v1/.well-known/keys"
        return web.json_response({"issuer": ISSUER, "jwks_uri": jwks_uri})

    async def _keys(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.jwks_body is not None:
            return web.Response(
                body=self.jwks_body,
                status=self.jwks_status,
                content_type="application/json",
            )
        return web.json_response(self.jwks, status=self.jwks_status)


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def validator(
    emulator: Emulator, session: aiohttp.ClientSession
) -> AsyncIterator[NotificationTokenValidator]:
    token_validator = NotificationTokenValidator(
        app_id=emulator.app_id,
        session=session,
        openid_configuration_url=emulator.openid_configuration_url,
    )
    yield token_validator
    await token_validator.aclose()


@pytest.fixture
def key_a() -> SigningKey:
    return SigningKey("key-a")


@pytest.fixture
def key_b() -> SigningKey:
    return SigningKey("key-b")


@pytest.fixture
async def key_server(key_a: SigningKey) -> AsyncIterator[KeyServer]:
    server = KeyServer(key_a)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def own_validator(
    key_server: KeyServer, session: aiohttp.ClientSession
) -> AsyncIterator[NotificationTokenValidator]:
    """A validator that reads its keys from key_server."""
    token_validator = NotificationTokenValidator(
        app_id=APP_ID,
        session=session,
        openid_configuration_url=key_server.openid_configuration_url,
    )
    yield token_validator
    await token_validator.aclose()


async def rejection_reason(
    validator: NotificationTokenValidator, authorization: str | None
) -> str:
    with pytest.raises(InvalidNotificationToken) as caught:
        await validator.validate(authorization)
    return caught.value.reason


async def emulator_public_key(
    emulator: Emulator, session: aiohttp.ClientSession
) -> rsa.RSAPublicKey:
    async with session.get(emulator.jwks_url) as response:
        jwks = await response.json()
    (member,) = jwks["keys"]
    public_key = RSAAlgorithm.from_jwk(member)
    assert isinstance(public_key, rsa.RSAPublicKey)
    return public_key


# --- accepted tokens ----------------------------------------------------------------


async def test_valid_token_returns_tenant_id(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token()

    claims = await validator.validate(bearer(token))

    assert isinstance(claims, NotificationClaims)
    assert claims.tenant_id == emulator.tenant_id
    assert claims.audience == emulator.app_id
    assert claims.issuer in DEFAULT_ISSUERS
    assert claims.expires_at > time.time()
    assert claims.claims["tid"] == emulator.tenant_id


async def test_bearer_scheme_is_case_insensitive(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token()

    claims = await validator.validate(f"bearer  {token} ")

    assert claims.tenant_id == emulator.tenant_id


async def test_second_default_issuer_accepted(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token(iss="https://graph.microsoft.com")

    claims = await validator.validate(bearer(token))

    assert claims.issuer == "https://graph.microsoft.com"


async def test_claims_are_read_only(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    claims = await validator.validate(bearer(emulator.sign_notification_token()))

    with pytest.raises(TypeError):
        claims.claims["tid"] = "other"  # type: ignore[index]


async def test_expired_within_leeway_accepted(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    now = int(time.time())
    token = emulator.sign_notification_token(
        iat=now - 3600, nbf=now - 3600, exp=now - 30
    )

    claims = await validator.validate(bearer(token))

    assert claims.expires_at == now - 30


async def test_token_without_kid_tries_each_key(
    key_server: KeyServer,
    own_validator: NotificationTokenValidator,
    key_a: SigningKey,
    key_b: SigningKey,
) -> None:
    key_server.serve_keys(key_a, key_b)
    token = key_b.sign(standard_claims(), with_kid=False)

    claims = await own_validator.validate(bearer(token))

    assert claims.tenant_id == TENANT_ID


# --- rejected tokens: signature and algorithm ---------------------------------------


async def test_forged_payload_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    header, _, signature = emulator.sign_notification_token().split(".")
    forged_claims = {
        "iss": ISSUER,
        "aud": emulator.app_id,
        "tid": "forged-tenant",
        "iat": int(time.time()),
        "nbf": int(time.time()),
        "exp": int(time.time()) + 3600,
    }
    forged = f"{header}.{b64url_json(forged_claims)}.{signature}"

    assert await rejection_reason(validator, bearer(forged)) == "invalid signature"


async def test_other_key_with_emulator_kid_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    impostor = SigningKey(emulator.signing_key_id)
    token = impostor.sign(standard_claims(aud=emulator.app_id))

    assert await rejection_reason(validator, bearer(token)) == "invalid signature"


async def test_other_key_with_unknown_kid_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    impostor = SigningKey("impostor-key")
    token = impostor.sign(standard_claims(aud=emulator.app_id))

    assert await rejection_reason(validator, bearer(token)) == "unknown signing key"


async def test_other_key_without_kid_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    impostor = SigningKey("impostor-key")
    token = impostor.sign(standard_claims(aud=emulator.app_id), with_kid=False)

    assert await rejection_reason(validator, bearer(token)) == "invalid signature"


async def test_alg_none_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": emulator.signing_key_id}
    claims = standard_claims(aud=emulator.app_id)
    token = f"{b64url_json(header)}.{b64url_json(claims)}."

    assert await rejection_reason(validator, bearer(token)) == "unsupported algorithm"


async def test_hs256_with_public_key_as_secret_rejected(
    emulator: Emulator,
    validator: NotificationTokenValidator,
    session: aiohttp.ClientSession,
) -> None:
    public_key = await emulator_public_key(emulator, session)
    secret = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": emulator.signing_key_id}
    claims = standard_claims(aud=emulator.app_id)
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(mac)}"

    assert await rejection_reason(validator, bearer(token)) == "unsupported algorithm"


async def test_rs512_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    impostor = SigningKey(emulator.signing_key_id)
    token = jwt.encode(
        standard_claims(aud=emulator.app_id),
        impostor.private_key,
        algorithm="RS512",
        headers={"kid": emulator.signing_key_id},
    )

    assert await rejection_reason(validator, bearer(token)) == "unsupported algorithm"


async def test_algorithm_checked_before_key_fetch(
    key_server: KeyServer, own_validator: NotificationTokenValidator
) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": "key-a"}
    token = f"{b64url_json(header)}.{b64url_json(standard_claims())}."

    reason = await rejection_reason(own_validator, bearer(token))

    assert reason == "unsupported algorithm"
    assert key_server.configuration_requests == 0
    assert key_server.jwks_requests == 0


# --- rejected tokens: claims --------------------------------------------------------


async def test_wrong_audience_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token(aud="some-other-app")

    assert await rejection_reason(validator, bearer(token)) == "wrong audience"


async def test_audience_list_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token(aud=[emulator.app_id, "other"])

    assert await rejection_reason(validator, bearer(token)) == "wrong audience"


@pytest.mark.parametrize(
    "issuer",
    [
        "https://evil.example.com",
        "https://api.botframework.com/",
        "HTTPS://API.BOTFRAMEWORK.COM",
    ],
)
async def test_wrong_issuer_rejected(
    emulator: Emulator, validator: NotificationTokenValidator, issuer: str
) -> None:
    token = emulator.sign_notification_token(iss=issuer)

    assert await rejection_reason(validator, bearer(token)) == "wrong issuer"


async def test_expired_beyond_leeway_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    now = int(time.time())
    token = emulator.sign_notification_token(
        iat=now - 3600, nbf=now - 3600, exp=now - 120
    )

    assert await rejection_reason(validator, bearer(token)) == "expired"


async def test_not_yet_valid_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    now = int(time.time())
    token = emulator.sign_notification_token(nbf=now + 600, exp=now + 3600)

    assert await rejection_reason(validator, bearer(token)) == "not yet valid"


async def test_nbf_within_leeway_accepted(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    now = int(time.time())
    token = emulator.sign_notification_token(iat=now, nbf=now + 30)

    claims = await validator.validate(bearer(token))

    assert claims.tenant_id == emulator.tenant_id


async def test_iat_in_future_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    now = int(time.time())
    token = emulator.sign_notification_token(iat=now + 600, nbf=now)

    assert await rejection_reason(validator, bearer(token)) == "issued in the future"


async def test_missing_iat_accepted(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token(iat=None)

    claims = await validator.validate(bearer(token))

    assert "iat" not in claims.claims


@pytest.mark.parametrize("claim", ["tid", "exp", "nbf", "iss", "aud"])
async def test_missing_required_claim_rejected(
    emulator: Emulator, validator: NotificationTokenValidator, claim: str
) -> None:
    token = emulator.sign_notification_token(**{claim: None})

    assert await rejection_reason(validator, bearer(token)) == f"missing {claim} claim"


@pytest.mark.parametrize("tenant_id", ["", 42, ["tenant"]])
async def test_invalid_tid_rejected(
    emulator: Emulator, validator: NotificationTokenValidator, tenant_id: object
) -> None:
    token = emulator.sign_notification_token(tid=tenant_id)

    assert await rejection_reason(validator, bearer(token)) == "invalid tid claim"


async def test_string_exp_rejected(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token(exp=str(int(time.time()) + 3600))

    assert await rejection_reason(validator, bearer(token)) == "invalid exp claim"


# --- rejected headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("   ", "missing Authorization header"),
        ("Basic xyz", "not a Bearer token"),
        ("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "not a Bearer token"),
        ("Bearer", "empty Bearer token"),
        ("Bearer ", "empty Bearer token"),
        ("Bearer not-a-jwt", "malformed token"),
        ("Bearer a.b", "malformed token"),
        ("Bearer a.b.c", "malformed token"),
        ("Bearer a.b.c.d", "malformed token"),
        ("Bearer one two", "malformed token"),
        ("Bearer " + "x" * 20000, "Authorization header too long"),
    ],
)
async def test_malformed_authorization_rejected(
    validator: NotificationTokenValidator, authorization: str | None, reason: str
) -> None:
    assert await rejection_reason(validator, authorization) == reason


async def test_payload_not_json_object_rejected(
    own_validator: NotificationTokenValidator, key_a: SigningKey
) -> None:
    token = jwt.api_jws.encode(
        b"[1, 2]", key_a.private_key, algorithm="RS256", headers={"kid": "key-a"}
    )

    assert await rejection_reason(own_validator, bearer(token)) == "malformed claims"


async def test_error_message_omits_token(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    token = emulator.sign_notification_token(aud="some-other-app")

    with pytest.raises(InvalidNotificationToken) as caught:
        await validator.validate(bearer(token))

    assert isinstance(caught.value, CallsError)
    assert str(caught.value) == "invalid notification token: wrong audience"
    assert token not in repr(caught.value.args)


# --- logging ------------------------------------------------------------------------


async def test_rejection_logged_without_token(
    emulator: Emulator,
    validator: NotificationTokenValidator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = emulator.sign_notification_token(aud="some-other-app")
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    await rejection_reason(validator, bearer(token))

    warnings = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "wrong audience" in message
    assert repr(emulator.signing_key_id) in message
    assert "'some-other-app'" in message
    assert token.split(".")[2] not in message
    assert token not in caplog.text


async def test_rejection_logs_are_rate_limited(
    validator: NotificationTokenValidator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    for _ in range(50):
        await rejection_reason(validator, "Basic xyz")

    rejections = [r for r in caplog.records if "Rejected" in r.getMessage()]
    assert len(rejections) == 10


async def test_suppressed_rejections_counted(
    monkeypatch: pytest.MonkeyPatch,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_inbound_auth, "_REJECTION_LOG_WINDOW", 0.5)
    token_validator = NotificationTokenValidator(
        app_id=APP_ID, session=session, openid_configuration_url="http://127.0.0.1:9/"
    )
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    for _ in range(15):
        await rejection_reason(token_validator, "Basic xyz")
    await asyncio.sleep(0.6)
    await rejection_reason(token_validator, "Basic xyz")

    messages = [r.getMessage() for r in caplog.records]
    assert sum("Rejected a notification token:" in m for m in messages) == 11
    assert any(m.startswith("Rejected 5 more notifications") for m in messages)
    await token_validator.aclose()


# --- key cache ----------------------------------------------------------------------


async def test_concurrent_first_validations_share_one_fetch(
    key_server: KeyServer, own_validator: NotificationTokenValidator, key_a: SigningKey
) -> None:
    key_server.delay = 0.05
    token = key_a.sign(standard_claims())

    results = await asyncio.gather(
        *(own_validator.validate(bearer(token)) for _ in range(50))
    )

    assert all(claims.tenant_id == TENANT_ID for claims in results)
    assert key_server.configuration_requests == 1
    assert key_server.jwks_requests == 1


async def test_unknown_kid_refetches_once_then_rejects(
    key_server: KeyServer, own_validator: NotificationTokenValidator, key_a: SigningKey
) -> None:
    await own_validator.validate(bearer(key_a.sign(standard_claims())))
    assert key_server.jwks_requests == 1
    stranger = SigningKey("key-unknown")

    reason = await rejection_reason(
        own_validator, bearer(stranger.sign(standard_claims()))
    )

    assert reason == "unknown signing key"
    assert key_server.jwks_requests == 2


async def test_unknown_kid_on_first_fetch_not_refetched(
    key_server: KeyServer, own_validator: NotificationTokenValidator
) -> None:
    stranger = SigningKey("key-unknown")

    reason = await rejection_reason(
        own_validator, bearer(stranger.sign(standard_claims()))
    )

    assert reason == "unknown signing key"
    assert key_server.jwks_requests == 1


async def test_unknown_kid_flood_refetches_at_most_once(
    key_server: KeyServer, own_validator: NotificationTokenValidator, key_a: SigningKey
) -> None:
    await own_validator.validate(bearer(key_a.sign(standard_claims())))
    stranger = SigningKey("key-unknown")
    claims = standard_claims()
    tokens = [
        jwt.encode(
            claims,
            stranger.private_key,
            algorithm="RS256",
            headers={"kid": str(uuid.uuid4())},
        )
        for _ in range(100)
    ]

    results = await asyncio.gather(
        *(own_validator.validate(bearer(token)) for token in tokens),
        return_exceptions=True,
    )

    assert all(isinstance(result, InvalidNotificationToken) for result in results)
    reasons = {
        result.reason
        for result in results
        if isinstance(result, InvalidNotificationToken)
    }
    assert reasons == {"unknown signing key"}
    assert key_server.jwks_requests == 2


async def test_unknown_kid_refetches_again_after_cooldown(
    key_server: KeyServer, session: aiohttp.ClientSession, key_a: SigningKey
) -> None:
    token_validator = NotificationTokenValidator(
        app_id=APP_ID,
        session=session,
        openid_configuration_url=key_server.openid_configuration_url,
        unknown_key_cooldown=0.05,
    )
    stranger = SigningKey("key-unknown")
    await token_validator.validate(bearer(key_a.sign(standard_claims())))

    await rejection_reason(token_validator, bearer(stranger.sign(standard_claims())))
    await asyncio.sleep(0.1)
    await rejection_reason(token_validator, bearer(stranger.sign(standard_claims())))

    assert key_server.jwks_requests == 3
    await token_validator.aclose()


async def test_rotated_key_accepted_after_one_refetch(
    key_server: KeyServer,
    own_validator: NotificationTokenValidator,
    key_a: SigningKey,
    key_b: SigningKey,
) -> None:
    await own_validator.validate(bearer(key_a.sign(standard_claims())))
    key_server.serve_keys(key_b)

    claims = await own_validator.validate(bearer(key_b.sign(standard_claims())))

    assert claims.tenant_id == TENANT_ID
    assert key_server.jwks_requests == 2


async def test_stale_cache_refetched(
    key_server: KeyServer, session: aiohttp.ClientSession, key_a: SigningKey
) -> None:
    token_validator = NotificationTokenValidator(
        app_id=APP_ID,
        session=session,
        openid_configuration_url=key_server.openid_configuration_url,
        refresh_interval=0.3,
    )

    def fresh_token() -> str:
        return key_a.sign(standard_claims(jti=str(uuid.uuid4())))

    await token_validator.validate(bearer(fresh_token()))
    await token_validator.validate(bearer(fresh_token()))
    assert key_server.jwks_requests == 1
    await asyncio.sleep(0.4)
    await token_validator.validate(bearer(fresh_token()))

    assert key_server.jwks_requests == 2
    await token_validator.aclose()


async def test_refresh_fetches_now(
    key_server: KeyServer, own_validator: NotificationTokenValidator
) -> None:
    await own_validator.refresh()
    await own_validator.refresh()

    assert key_server.configuration_requests == 2
    assert key_server.jwks_requests == 2


@pytest.mark.parametrize(
    "failure",
    ["status 500", "invalid JSON", "no keys", "only an EC key", "small RSA key"],
)
async def test_failed_refresh_keeps_old_keys(
    key_server: KeyServer,
    own_validator: NotificationTokenValidator,
    key_a: SigningKey,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    token = key_a.sign(standard_claims())
    await own_validator.validate(bearer(token))
    _break_key_server(key_server, failure)
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    await own_validator.refresh()
    claims = await own_validator.validate(bearer(token))

    assert key_server.jwks_requests == 2
    assert claims.tenant_id == TENANT_ID
    failures = [r for r in caplog.records if "failed to fetch" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING


def _break_key_server(server: KeyServer, failure: str) -> None:
    if failure == "status 500":
        server.jwks_status = 500
    elif failure == "invalid JSON":
        server.jwks_body = b"<html>not json"
    elif failure == "no keys":
        server.jwks = {"keys": []}
    elif failure == "only an EC key":
        ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        server.jwks = {
            "keys": [jwt.algorithms.ECAlgorithm.to_jwk(ec_key, as_dict=True)]
        }
    elif failure == "small RSA key":
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        member = RSAAlgorithm.to_jwk(small.public_key(), as_dict=True)
        server.jwks = {"keys": [{**member, "kid": "small"}]}
    else:
        raise AssertionError(f"unknown failure {failure!r}")


async def test_failed_refresh_keeps_keys_until_retry(
    key_server: KeyServer, session: aiohttp.ClientSession, key_a: SigningKey
) -> None:
    token_validator = NotificationTokenValidator(
        app_id=APP_ID,
        session=session,
        openid_configuration_url=key_server.openid_configuration_url,
        refresh_interval=0.3,
    )
    await token_validator.validate(bearer(key_a.sign(standard_claims())))
    key_server.jwks_status = 500
    await asyncio.sleep(0.4)

    for _ in range(5):
        token = key_a.sign(standard_claims(jti=str(uuid.uuid4())))
        claims = await token_validator.validate(bearer(token))
        assert claims.tenant_id == TENANT_ID

    # One scheduled fetch failed, and the later validations waited for the retry.
    assert key_server.jwks_requests == 2
    await token_validator.aclose()


async def test_keys_never_fetched_rejects_all(
    key_server: KeyServer, own_validator: NotificationTokenValidator, key_a: SigningKey
) -> None:
    key_server.jwks_status = 500

    reason = await rejection_reason(
        own_validator, bearer(key_a.sign(standard_claims()))
    )

    assert reason == "signing keys unavailable"


async def test_fetch_timeout_rejects_without_keys(
    key_server: KeyServer, session: aiohttp.ClientSession, key_a: SigningKey
) -> None:
    key_server.delay = 1.0
    token_validator = NotificationTokenValidator(
        app_id=APP_ID,
        session=session,
        openid_configuration_url=key_server.openid_configuration_url,
        fetch_timeout=0.1,
    )
    started = time.monotonic()

    reason = await rejection_reason(
        token_validator, bearer(key_a.sign(standard_claims()))
    )

    assert reason == "signing keys unavailable"
    assert time.monotonic() - started < 0.9
    await token_validator.aclose()


@pytest.mark.parametrize(
    ("jwks_uri", "problem"),
    [
        ("http://keys.example.com/keys", "must use https"),
        ("ftp://127.0.0.1/keys", "must use https"),
        ("not a url", "has no host"),
    ],
)
async def test_unsafe_jwks_uri_not_fetched(
    key_server: KeyServer,
    own_validator: NotificationTokenValidator,
    key_a: SigningKey,
    caplog: pytest.LogCaptureFixture,
    jwks_uri: str,
    problem: str,
) -> None:
    key_server.jwks_uri = jwks_uri
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    reason = await rejection_reason(
        own_validator, bearer(key_a.sign(standard_claims()))
    )

    assert reason == "signing keys unavailable"
    assert key_server.configuration_requests == 1
    assert key_server.jwks_requests == 0
    failures = [r.getMessage() for r in caplog.records if "failed to fetch" in r.msg]
    assert len(failures) == 1
    assert problem in failures[0]
    assert repr(jwks_uri) in failures[0]


# --- lifecycle and configuration ----------------------------------------------------


async def test_session_left_open(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    token_validator = NotificationTokenValidator(
        app_id=emulator.app_id,
        session=session,
        openid_configuration_url=emulator.openid_configuration_url,
    )
    await token_validator.validate(bearer(emulator.sign_notification_token()))

    await token_validator.aclose()

    assert not session.closed


async def test_session_factory_called_lazily(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    calls: list[int] = []

    def session_factory() -> aiohttp.ClientSession:
        calls.append(1)
        return session

    token_validator = NotificationTokenValidator(
        app_id=emulator.app_id,
        session=session_factory,
        openid_configuration_url=emulator.openid_configuration_url,
    )
    assert calls == []

    claims = await token_validator.validate(bearer(emulator.sign_notification_token()))
    await token_validator.aclose()

    assert claims.tenant_id == emulator.tenant_id
    assert calls
    assert not session.closed


async def test_validate_after_aclose_raises(
    emulator: Emulator, validator: NotificationTokenValidator
) -> None:
    await validator.aclose()

    with pytest.raises(ClientClosedError):
        await validator.validate(bearer(emulator.sign_notification_token()))


@pytest.mark.parametrize(
    "url",
    [
        "http://api.aps.skype.com/v1/.well-known/OpenIdConfiguration",
        "http://10.0.0.1/openid",
        "ftp://127.0.0.1/openid",
        "/v1/.well-known/OpenIdConfiguration",
    ],
)
def test_non_https_configuration_url_raises(url: str) -> None:
    with pytest.raises(ValueError, match="openid_configuration_url"):
        NotificationTokenValidator(
            app_id=APP_ID,
            session=aiohttp.ClientSession,
            openid_configuration_url=url,
        )


@pytest.mark.parametrize(
    "url",
    [
        "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration",
        "http://127.0.0.1:8080/openid",
        "http://localhost/openid",
        "http://[::1]:8080/openid",
    ],
)
def test_https_or_loopback_configuration_url_accepted(url: str) -> None:
    token_validator = NotificationTokenValidator(
        app_id=APP_ID, session=aiohttp.ClientSession, openid_configuration_url=url
    )

    assert "keys=0" in repr(token_validator)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"leeway": "60"}, TypeError),
        ({"fetch_timeout": True}, TypeError),
        ({"refresh_interval": 10**400}, ValueError),
    ],
)
def test_seconds_not_real_numbers_raise(
    arguments: dict[str, Any], error: type[Exception]
) -> None:
    name = next(iter(arguments))

    with pytest.raises(error, match=f"{name} is"):
        NotificationTokenValidator(
            app_id=APP_ID, session=aiohttp.ClientSession, **arguments
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"app_id": ""}, "app_id"),
        ({"issuers": []}, "issuers"),
        ({"issuers": "https://api.botframework.com"}, "issuers"),
        ({"leeway": -1}, "leeway"),
        ({"leeway": float("nan")}, "leeway"),
        ({"refresh_interval": 0}, "refresh_interval"),
        ({"unknown_key_cooldown": -5}, "unknown_key_cooldown"),
        ({"fetch_timeout": 0}, "fetch_timeout"),
    ],
)
def test_invalid_arguments_raise(arguments: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"app_id": APP_ID, **arguments}

    with pytest.raises(ValueError, match=message):
        NotificationTokenValidator(session=aiohttp.ClientSession, **settings)


async def test_verified_token_is_cached_until_expiry(
    key_server: KeyServer, own_validator: NotificationTokenValidator, key_a: SigningKey
) -> None:
    token = key_a.sign(standard_claims())
    first = await own_validator.validate(bearer(token))
    key_server.jwks_status = 500
    second = await own_validator.validate(bearer(token))
    assert second is first

    expired = key_a.sign(standard_claims(exp=int(time.time()) - 3600))
    reason = await rejection_reason(own_validator, bearer(expired))
    assert reason == "expired"
