"""Validation of the bearer tokens on notifications that the calling platform POSTs.

The calling platform signs each notification's ``Authorization: Bearer <JWT>`` with
its own RSA key, published as a JWKS whose ``jwks_uri`` is named in an OpenID
configuration document. This is not an Entra ID token, so the Entra metadata does not
apply. A token is accepted only if all of these hold:

- the header ``alg`` is RS256, checked before any key is touched, so ``none`` and the
  HS256-with-the-public-key-as-secret attack fail first;
- the signature verifies with the cached key whose ``kid`` the header names, or with
  any cached key when the header has no ``kid``;
- ``exp`` and ``nbf`` are present and hold at the current time give or take the
  leeway, and ``iat``, when present, is not later than now plus the leeway;
- ``iss`` is exactly one of the configured issuers and ``aud`` is exactly the app id;
- ``tid`` (the tenant of the call) is a non-empty string.

Key cache and refresh strategy. Keys are fetched on demand and no background task
runs. A validation that finds the cache empty, or older than ``refresh_interval``,
fetches the OpenID configuration and then the JWKS before it checks the token. A
failed fetch keeps the last good keys, and the next scheduled attempt waits 30 s
(``_RETRY_DELAY_AFTER_FAILURE``) so that a dead key endpoint is not asked once per
notification. Until a first fetch succeeds, every token is rejected. The cost of
this choice is that one validation every ``refresh_interval`` waits for the fetch, at
most ``fetch_timeout`` seconds. In exchange there is no task to start on the right
loop, to leak, or to keep alive.

A token whose ``kid`` is not cached causes one extra fetch before it is rejected,
because that is how a key rotation first shows up. A fetch made earlier in the same
validation counts as that extra fetch. Such fetches happen at most once per
``unknown_key_cooldown``, so a flood of tokens with made-up key ids costs the key
endpoint one request. Every fetch runs under one lock created lazily on the running
loop, and each waiter checks the cache again once it holds the lock, so concurrent
validations that need keys share a single fetch.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp
import attrs
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from calls_async._config import real_number
from calls_async._errors import ClientClosedError, InvalidNotificationToken
from calls_async._http import check_url

__all__ = [
    "DEFAULT_ISSUERS",
    "DEFAULT_OPENID_CONFIGURATION_URL",
    "InvalidNotificationToken",
    "NotificationClaims",
    "NotificationTokenValidator",
]

DEFAULT_OPENID_CONFIGURATION_URL = (
    "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration"
)
DEFAULT_ISSUERS = ("https://api.botframework.com", "https://graph.microsoft.com")

_log = logging.getLogger("calls_async.notifications.auth")

_ALGORITHM = "RS256"
_REQUIRED_CLAIMS = ("exp", "nbf", "iss", "aud", "tid")
# RSA keys shorter than this are skipped when the JWKS is read.
_MIN_RSA_KEY_BITS = 2048
# Seconds before a failed scheduled fetch is tried again.
_RETRY_DELAY_AFTER_FAILURE = 30.0
# Larger OpenID or JWKS documents are treated as a failed fetch.
_MAX_DOCUMENT_BYTES = 1024 * 1024
# Longer Authorization values are rejected without parsing. Platform tokens are
# about 1 KB (an estimate), and aiohttp's server caps a header at 8190 bytes by default.
_MAX_TOKEN_CHARS = 16 * 1024
# At most this many rejections per window are logged in full, and the rest are counted.
_REJECTION_LOG_LIMIT = 10
_REJECTION_LOG_WINDOW = 60.0
# Unverified claim values are cut to this length in log lines.
_MAX_LOGGED_VALUE_CHARS = 100


@attrs.frozen
class NotificationClaims:
    """The verified claims of a notification token.

    ``expires_at`` is the ``exp`` claim in seconds since the Unix epoch. ``claims``
    is a read-only copy of the whole payload.
    """

    tenant_id: str
    issuer: str
    audience: str
    expires_at: float
    claims: Mapping[str, Any]


class _KeyFetchError(Exception):
    """Fetching or reading the OpenID configuration or JWKS failed."""


class RejectionLog:
    """Logs the first rejections of each window and counts the rest."""

    def __init__(
        self, limit: int, window: float, logger: logging.Logger | None = None
    ) -> None:
        self._logger = logger or _log
        self._limit = limit
        self._window = window
        self._window_start = time.monotonic()
        self._logged = 0
        self._suppressed = 0

    def should_log(self) -> bool:
        now = time.monotonic()
        if now - self._window_start >= self._window:
            self._report_suppressed(now)
            self._window_start = now
            self._logged = 0
            self._suppressed = 0
        if self._logged < self._limit:
            self._logged += 1
            return True
        self._suppressed += 1
        return False

    def _report_suppressed(self, now: float) -> None:
        # NOTE: the count of a window is logged only when a later rejection arrives,
        # so the last window before a quiet period is never reported.
        if self._suppressed:
            self._logger.warning(
                "Rejected %d more notifications in the last %.0f s without "
                "logging their details",
                self._suppressed,
                now - self._window_start,
            )


_VERIFIED_CACHE_SIZE = 1024
"""Verified tokens remembered, so a repeated token is not checked again."""


class NotificationTokenValidator:
    """Validates the bearer tokens on notifications from the calling platform.

    Args:
        app_id: the bot's Microsoft App ID (client id), the required ``aud``.
        session: the aiohttp session that fetches keys, or a callable returning it
            so it can be created inside the running loop. It is never closed here.
        openid_configuration_url: the OpenID configuration that names the JWKS. It
            must be https, or http on a loopback host for the emulator.
        issuers: the accepted ``iss`` values, compared exactly.
        leeway: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``. The
            default 60 s covers the skew between NTP-synced clocks. A larger value
            lets a captured token be replayed longer after it expires.
        refresh_interval: seconds after which cached keys are fetched again. The
            default 2 hours matches Microsoft's calling bot samples.
        unknown_key_cooldown: minimum seconds between fetches caused by a token
            whose ``kid`` is not cached.
        fetch_timeout: seconds one fetch of both documents may take.

    Raises:
        ValueError: a URL is not https outside loopback, or a number or string
            argument is out of range.
    """

    def __init__(
        self,
        *,
        app_id: str,
        session: aiohttp.ClientSession | Callable[[], aiohttp.ClientSession],
        openid_configuration_url: str = DEFAULT_OPENID_CONFIGURATION_URL,
        issuers: Iterable[str] = DEFAULT_ISSUERS,
        leeway: float = 60.0,
        refresh_interval: float = 7200.0,
        unknown_key_cooldown: float = 300.0,
        fetch_timeout: float = 10.0,
    ) -> None:
        if not app_id:
            raise ValueError("app_id must be the bot's Microsoft App ID, not empty")
        self._app_id = app_id
        self._session = session
        self._openid_configuration_url = check_url(
            openid_configuration_url, name="openid_configuration_url"
        )
        self._issuers = _check_issuers(issuers)
        self._leeway = _check_seconds(leeway, "leeway", allow_zero=True)
        self._refresh_interval = _check_seconds(refresh_interval, "refresh_interval")
        self._unknown_key_cooldown = _check_seconds(
            unknown_key_cooldown, "unknown_key_cooldown", allow_zero=True
        )
        self._fetch_timeout = _check_seconds(fetch_timeout, "fetch_timeout")

        self._keys: tuple[jwt.PyJWK, ...] = ()
        self._keys_by_id: dict[str, jwt.PyJWK] = {}
        # Monotonic times; 0.0 means "now", so the first validation fetches.
        self._next_refresh_at = 0.0
        self._next_unknown_key_fetch_at = 0.0
        # Fetches that ran to the end, so that a refresh() which waited for the lock
        # can tell that another fetch finished meanwhile.
        self._finished_fetches = 0
        # Created on first use, so the validator can be built before a loop runs.
        self._lock: asyncio.Lock | None = None
        self._rejection_log = RejectionLog(_REJECTION_LOG_LIMIT, _REJECTION_LOG_WINDOW)
        self._closed = False
        self._verified: collections.OrderedDict[str, NotificationClaims] = (
            collections.OrderedDict()
        )

    def __repr__(self) -> str:
        return (
            f"<NotificationTokenValidator app_id={self._app_id!r} "
            f"keys={len(self._keys)}>"
        )

    async def validate(self, authorization: str | None) -> NotificationClaims:
        """Validate the ``Authorization`` header value of one notification.

        Raises:
            InvalidNotificationToken: the header is missing, is not a Bearer token,
                or the token fails a check. ``reason`` names the failed check.
            ClientClosedError: ``aclose()`` was called.
        """
        if self._closed:
            raise ClientClosedError("the notification token validator is closed")
        try:
            return await self._validate(authorization)
        except InvalidNotificationToken as error:
            self._log_rejection(error, authorization)
            raise

    async def refresh(self) -> None:
        """Fetch the OpenID configuration and then the JWKS now.

        A failure is logged at WARNING and keeps the keys cached before, so the
        caller need not handle it. A call that waits for a fetch already running
        returns when that fetch ends, without starting another.
        """
        if self._closed:
            raise ClientClosedError("the notification token validator is closed")
        finished_before = self._finished_fetches
        async with self._get_lock():
            if self._finished_fetches == finished_before:
                await self._fetch_and_store()

    async def aclose(self) -> None:
        """Mark the validator closed, leaving the session open for its owner.

        No background task exists to stop, because keys are fetched on demand.
        """
        self._closed = True

    async def _validate(self, authorization: str | None) -> NotificationClaims:
        token = _bearer_token(authorization)
        verified = self._verified.get(token)
        if verified is not None and time.time() < verified.expires_at + self._leeway:
            # The service signs one token and sends it with many notifications;
            # checking the signature again would give the same answer until exp.
            return verified
        key_id = _unverified_key_id(token)
        keys = await self._signing_keys(key_id)
        payload = self._decode(token, keys)
        claims = self._claims_from(payload)
        self._verified[token] = claims
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    async def _signing_keys(self, key_id: str | None) -> Sequence[jwt.PyJWK]:
        """Return the cached keys that may have signed a token with ``key_id``."""
        fetched = await self._refresh_if_stale()
        # A fetch made in this call counts as the one refetch an unknown kid allows.
        refetch = bool(self._keys) and not fetched
        if refetch and key_id is not None and key_id not in self._keys_by_id:
            await self._fetch_for_unknown_key(key_id)

        if not self._keys:
            raise InvalidNotificationToken("signing keys unavailable")
        if key_id is None:
            return self._keys
        key = self._keys_by_id.get(key_id)
        if key is None:
            raise InvalidNotificationToken("unknown signing key")
        return (key,)

    async def _refresh_if_stale(self) -> bool:
        """Fetch the keys if the cache is due, and return whether this call fetched."""
        if time.monotonic() < self._next_refresh_at:
            return False
        async with self._get_lock():
            # Another validation may have fetched while this one waited.
            if time.monotonic() < self._next_refresh_at:
                return False
            await self._fetch_and_store()
            return True

    async def _fetch_for_unknown_key(self, key_id: str) -> None:
        if time.monotonic() < self._next_unknown_key_fetch_at:
            return
        async with self._get_lock():
            if key_id in self._keys_by_id:
                return
            now = time.monotonic()
            if now < self._next_unknown_key_fetch_at:
                return
            self._next_unknown_key_fetch_at = now + self._unknown_key_cooldown
            _log.info(
                "fetching notification signing keys again for unknown key id %s",
                _shorten(key_id),
            )
            await self._fetch_and_store()

    async def _fetch_and_store(self) -> None:
        """Fetch the keys and cache them, or keep the old keys if the fetch fails.

        The caller holds the lock.
        """
        try:
            async with asyncio.timeout(self._fetch_timeout):
                jwks_uri, keys = await self._fetch_keys()
        except TimeoutError:
            problem = f"timed out after {self._fetch_timeout:g} s"
        except _KeyFetchError as error:
            problem = str(error)
        else:
            self._store_keys(jwks_uri, keys)
            problem = ""
        self._finished_fetches += 1
        if problem:
            self._record_fetch_failure(problem)

    def _store_keys(self, jwks_uri: str, keys: tuple[jwt.PyJWK, ...]) -> None:
        self._keys = keys
        self._keys_by_id = {}
        for key in keys:
            if key.key_id is not None:
                self._keys_by_id.setdefault(key.key_id, key)
        self._next_refresh_at = time.monotonic() + self._refresh_interval
        _log.info("fetched %d notification signing keys from %s", len(keys), jwks_uri)

    def _record_fetch_failure(self, problem: str) -> None:
        delay = min(self._refresh_interval, _RETRY_DELAY_AFTER_FAILURE)
        self._next_refresh_at = time.monotonic() + delay
        _log.warning(
            "failed to fetch notification signing keys via %s: %s; keeping %d "
            "cached keys and trying again in %.0f s or later",
            self._openid_configuration_url,
            problem,
            len(self._keys),
            delay,
        )

    async def _fetch_keys(self) -> tuple[str, tuple[jwt.PyJWK, ...]]:
        """Fetch the OpenID configuration, then its JWKS, and return the URI and keys.

        Raises:
            _KeyFetchError: a request failed or a document is unusable.
        """
        configuration = await self._fetch_json(self._openid_configuration_url)
        jwks_uri = _jwks_uri_from(configuration)
        jwks = await self._fetch_json(jwks_uri)
        return jwks_uri, _rsa_keys_from(jwks)

    async def _fetch_json(self, url: str) -> Any:
        session = self._get_session()
        try:
            # Redirects are not followed, because aiohttp would follow one from
            # https to plain http and let the key set come from an unchecked URL.
            async with session.get(
                url, allow_redirects=False, headers={"Accept": "application/json"}
            ) as response:
                if response.status != 200:
                    raise _KeyFetchError(f"GET {url} returned HTTP {response.status}")
                body = await _read_limited(response, _MAX_DOCUMENT_BYTES)
        except aiohttp.ClientError as error:
            raise _KeyFetchError(f"GET {url} failed: {error!r}") from error
        try:
            return json.loads(body)
        except ValueError as error:
            raise _KeyFetchError(f"GET {url} returned invalid JSON") from error

    def _get_session(self) -> aiohttp.ClientSession:
        if isinstance(self._session, aiohttp.ClientSession):
            return self._session
        return self._session()

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _decode(self, token: str, keys: Sequence[jwt.PyJWK]) -> dict[str, Any]:
        """Verify the signature and standard claims with the first key that fits."""
        for index, key in enumerate(keys):
            try:
                return self._decode_with(token, key)
            except jwt.InvalidSignatureError:
                if index == len(keys) - 1:
                    raise InvalidNotificationToken("invalid signature") from None
            except jwt.PyJWTError as error:
                raise InvalidNotificationToken(_reason_for(error)) from None
        raise InvalidNotificationToken("signing keys unavailable")

    def _decode_with(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            audience=self._app_id,
            issuer=self._issuers,
            leeway=self._leeway,
            # PyJWT 2.6 to 2.15 raise the same error for a future iat as for an early
            # nbf, and its maintainers plan to drop the iat check in version 3. So
            # _claims_from checks iat itself and gives it a reason of its own.
            options={
                "require": list(_REQUIRED_CLAIMS),
                "strict_aud": True,
                "verify_iat": False,
            },
        )

    def _claims_from(self, payload: dict[str, Any]) -> NotificationClaims:
        """Check the claims PyJWT leaves alone and build the result."""
        tenant_id = payload.get("tid")
        if not isinstance(tenant_id, str) or not tenant_id:
            raise InvalidNotificationToken("invalid tid claim")
        expires_at = _numeric_date(payload, "exp")
        _numeric_date(payload, "nbf")
        if "iat" in payload:
            issued_at = _numeric_date(payload, "iat")
            if issued_at > time.time() + self._leeway:
                raise InvalidNotificationToken("issued in the future")
        return NotificationClaims(
            tenant_id=tenant_id,
            issuer=payload["iss"],
            audience=payload["aud"],
            expires_at=expires_at,
            claims=types.MappingProxyType(payload),
        )

    def _log_rejection(
        self, error: InvalidNotificationToken, authorization: str | None
    ) -> None:
        if not self._rejection_log.should_log():
            return
        key_id, issuer, audience = _describe_token(authorization)
        _log.warning(
            "Rejected a notification token: %s (kid %s, iss %s, aud %s)",
            error.reason,
            key_id,
            issuer,
            audience,
        )


def _check_issuers(issuers: Iterable[str]) -> frozenset[str]:
    if isinstance(issuers, str):
        raise ValueError(
            f"issuers must be a collection of issuer URLs, not the string {issuers!r}"
        )
    checked = frozenset(issuers)
    if not checked or not all(isinstance(item, str) and item for item in checked):
        raise ValueError(
            "issuers must contain at least one non-empty issuer URL, such as "
            f"{DEFAULT_ISSUERS[0]!r}"
        )
    return checked


def _check_seconds(value: float, name: str, *, allow_zero: bool = False) -> float:
    seconds = real_number(value, name)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "0 or more" if allow_zero else "more than 0"
        raise ValueError(f"{name} must be {bound} seconds, not {value!r}")
    return seconds


def _bearer_token(authorization: str | None) -> str:
    """Return the token of a ``Bearer <token>`` header value."""
    if not authorization or not authorization.strip():
        raise InvalidNotificationToken("missing Authorization header")
    if len(authorization) > _MAX_TOKEN_CHARS:
        raise InvalidNotificationToken("Authorization header too long")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidNotificationToken("not a Bearer token")
    token = token.strip()
    if not token:
        raise InvalidNotificationToken("empty Bearer token")
    if " " in token:
        raise InvalidNotificationToken("malformed token")
    return token


def _unverified_key_id(token: str) -> str | None:
    """Return the header ``kid`` after checking that ``alg`` is RS256."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidNotificationToken("malformed token") from None
    if header.get("alg") != _ALGORITHM:
        raise InvalidNotificationToken("unsupported algorithm")
    key_id = header.get("kid")
    # PyJWT 2.15 already rejects a non-string kid. This check keeps the guarantee
    # with any other version.
    if key_id is not None and not isinstance(key_id, str):
        raise InvalidNotificationToken("malformed token")
    return key_id


def _reason_for(error: jwt.PyJWTError) -> str:
    """Return the rejection reason for a PyJWT error raised after the header check."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "not yet valid"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing {error.claim} claim"
    if isinstance(error, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(error, jwt.InvalidAlgorithmError):
        return "unsupported algorithm"
    if isinstance(error, jwt.DecodeError):
        return "malformed claims"
    return "invalid token"


def _numeric_date(payload: Mapping[str, Any], name: str) -> float:
    """Return a NumericDate claim, rejecting strings and booleans PyJWT accepts."""
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidNotificationToken(f"invalid {name} claim")
    return float(value)


def _jwks_uri_from(configuration: Any) -> str:
    if not isinstance(configuration, dict):
        raise _KeyFetchError("the OpenID configuration is not a JSON object")
    jwks_uri = configuration.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise _KeyFetchError("the OpenID configuration has no jwks_uri string")
    try:
        return check_url(jwks_uri, name="jwks_uri")
    except ValueError as error:
        raise _KeyFetchError(str(error)) from None


def _rsa_keys_from(jwks: Any) -> tuple[jwt.PyJWK, ...]:
    """Return the RS256 signature keys of a JWKS; other members are skipped."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise _KeyFetchError("the JWKS is not a JSON object with a keys list")
    keys = tuple(key for key in map(_rsa_key_from, jwks["keys"]) if key is not None)
    if not keys:
        raise _KeyFetchError(
            f"the JWKS has no RSA public signature keys of {_MIN_RSA_KEY_BITS} "
            "bits or more"
        )
    return keys


def _rsa_key_from(member: Any) -> jwt.PyJWK | None:
    if not isinstance(member, dict) or member.get("kty") != "RSA":
        return None
    if member.get("use", "sig") != "sig" or member.get("alg", _ALGORITHM) != _ALGORITHM:
        return None
    kid = member.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    try:
        key = jwt.PyJWK(member, algorithm=_ALGORITHM)
    except jwt.PyJWTError:
        return None
    # A member carrying private parameters would load as a private key.
    if not isinstance(key.key, rsa.RSAPublicKey):
        return None
    if key.key.key_size < _MIN_RSA_KEY_BITS:
        return None
    return key


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise _KeyFetchError(f"GET {response.url} returned more than {limit} bytes")
    return bytes(body)


def _describe_token(authorization: str | None) -> tuple[str, str, str]:
    """Return the unverified kid, iss and aud of a token for a log line.

    Values are quoted and shortened because an attacker chooses them. A part that
    cannot be read is ``-``.
    """
    key_id = issuer = audience = "-"
    try:
        token = _bearer_token(authorization)
        header = jwt.get_unverified_header(token)
    except (InvalidNotificationToken, jwt.PyJWTError):
        return key_id, issuer, audience
    if "kid" in header:
        key_id = _shorten(header["kid"])

    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return key_id, issuer, audience
    if "iss" in payload:
        issuer = _shorten(payload["iss"])
    if "aud" in payload:
        audience = _shorten(payload["aud"])
    return key_id, issuer, audience


def _shorten(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_LOGGED_VALUE_CHARS:
        text = text[: _MAX_LOGGED_VALUE_CHARS - 3] + "..."
    return text
