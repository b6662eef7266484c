"""The certificates registered on the emulator's app, and client assertion checks.

A confidential client with a certificate authenticates to the token endpoint with a
client assertion (RFC 7523): a JWT signed with the certificate's private key, sent as
`client_assertion` with `client_assertion_type` set to `JWT_BEARER`. Its header
names the certificate by thumbprint, in `x5t#S256` (the base64url SHA-256 digest of
the DER certificate) or `x5t` (the same with SHA-1). azure-identity 1.27's async
credentials send PS256 with `x5t#S256`. MSAL 1.39 sends RS256 with `x5t` when it is
given a SHA-1 thumbprint, as azure-identity's sync credentials do. Both pad the
base64url value with `=`, so thumbprints are compared without padding.

The claims must name the token endpoint in `aud`, the client id in `iss` and `sub`,
and carry `exp` and `jti`. No clock skew is allowed, because the client and the
emulator share one clock.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Collection, Iterable
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS = ("RS256", "PS256")


class InvalidClientAssertion(Exception):
    """A client assertion that the token endpoint rejects, with its AADSTS code."""

    def __init__(self, aadsts_code: int, description: str) -> None:
        super().__init__(f"AADSTS{aadsts_code}: {description}")
        self.aadsts_code = aadsts_code
        self.description = description


class ClientCertificates:
    """The certificates registered on the app, by SHA-1 and SHA-256 thumbprint."""

    def __init__(self, pems: Iterable[bytes | str] = ()) -> None:
        self._keys_by_thumbprint: dict[str, rsa.RSAPublicKey] = {}
        for pem in pems:
            self.register(pem)

    def __len__(self) -> int:
        # Each certificate's key is stored under two thumbprints.
        return len(self._keys_by_thumbprint) // 2

    def register(self, pem: bytes | str) -> str:
        """Register a PEM certificate and return its `x5t#S256` thumbprint.

        The PEM may also contain the private key; only the first certificate is
        read. Raises ValueError for data that contains no certificate or whose key
        is not RSA, since the token endpoint accepts RS256 and PS256 assertions only.
        """
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            certificate = x509.load_pem_x509_certificate(data)
        except ValueError as err:
            raise ValueError(
                f"invalid client certificate: expected a PEM certificate: {err}"
            ) from None
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError(
                "invalid client certificate: its key is not RSA, and client "
                "assertions must be signed with RS256 or PS256"
            )
        sha256 = _thumbprint(certificate, hashes.SHA256())
        self._keys_by_thumbprint[sha256] = public_key
        self._keys_by_thumbprint[_thumbprint(certificate, hashes.SHA1())] = public_key
        return sha256

    def verify(
        self,
        assertion: str,
        *,
        client_id: str,
        audiences: Collection[str],
        now: float,
    ) -> None:
        """Check a client assertion, or raise InvalidClientAssertion.

        `audiences` are the accepted `aud` values, each passed through
        `normalize_audience`.
        """
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as err:
            raise InvalidClientAssertion(
                50027, f"JWT token is invalid or malformed: {err}."
            ) from None
        algorithm = header.get("alg")
        if algorithm not in _ALGORITHMS:
            raise InvalidClientAssertion(
                50027,
                f"JWT token is invalid or malformed: the client assertion is signed "
                f"with {algorithm!r}; sign it with RS256 or PS256.",
            )
        thumbprint = header.get("x5t#S256") or header.get("x5t")
        if not isinstance(thumbprint, str):
            raise InvalidClientAssertion(
                700027,
                "Client assertion failed signature validation. [Reason - The "
                "assertion header has no x5t#S256 or x5t thumbprint of the signing "
                "certificate.]",
            )
        public_key = self._keys_by_thumbprint.get(thumbprint.rstrip("="))
        if public_key is None:
            raise InvalidClientAssertion(
                700027,
                "The certificate with identifier used to sign the client assertion "
                "is not registered on application. [Reason - The key was not "
                f"found., Thumbprint of key used by client: '{thumbprint}']",
            )

        claims = _verified_claims(assertion, public_key, algorithm, thumbprint)
        _check_lifetime(claims, now)
        audience = claims.get("aud")
        if (
            not isinstance(audience, str)
            or normalize_audience(audience) not in audiences
        ):
            raise InvalidClientAssertion(
                700023,
                "Client assertion audience claim does not match Realm issuer. "
                f"The assertion's aud is {audience!r}; it must be the token "
                "endpoint URL.",
            )
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise InvalidClientAssertion(
                700021,
                "Client assertion application identifier doesn't match "
                f"'client_id' parameter: iss and sub must both be '{client_id}'.",
            )
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidClientAssertion(
                50027,
                "JWT token is invalid or malformed: the client assertion has no jti.",
            )


def normalize_audience(url: str) -> str:
    """Return the form of a token endpoint URL that `verify` compares `aud` with."""
    return url.rstrip("/").lower()


def _verified_claims(
    assertion: str, public_key: rsa.RSAPublicKey, algorithm: str, thumbprint: str
) -> dict[str, Any]:
    """Verify the signature and return the claims, which are checked separately."""
    try:
        return jwt.decode(
            assertion,
            public_key,
            algorithms=[algorithm],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise InvalidClientAssertion(
            700027,
            "Client assertion contains an invalid signature. [Reason - The provided "
            "signature value did not match the expected signature value., "
            f"Thumbprint of key used by client: '{thumbprint}']",
        ) from None
    except jwt.PyJWTError as err:
        raise InvalidClientAssertion(
            50027, f"JWT token is invalid or malformed: {err}."
        ) from None


def _check_lifetime(claims: dict[str, Any], now: float) -> None:
    expires = _number_claim(claims, "exp")
    not_before = _number_claim(claims, "nbf") or 0.0
    if expires is None or now >= expires or now < not_before:
        expiry = "missing" if expires is None else _iso_time(expires)
        raise InvalidClientAssertion(
            700024,
            "Client assertion is not within its valid time range. Current time: "
            f"{_iso_time(now)}, assertion valid from {_iso_time(not_before)}, "
            f"expiry time of assertion {expiry}.",
        )


def _number_claim(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _iso_time(timestamp: float) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return repr(timestamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _thumbprint(certificate: x509.Certificate, algorithm: hashes.HashAlgorithm) -> str:
    digest = certificate.fingerprint(algorithm)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
