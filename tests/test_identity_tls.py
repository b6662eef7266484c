"""Real azure-identity credentials against the emulator's token endpoint over TLS.

The emulator serves HTTPS with a server certificate from a throwaway trustme CA,
and the credentials trust that CA through `connection_verify`. azure-identity 1.27's
async credentials post to `{authority}/{tenant}/oauth2/v2.0/token` directly. Its
sync credentials go through MSAL, which first reads
`{authority}/{tenant}/v2.0/.well-known/openid-configuration`.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import jwt
import pytest
import trustme
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential as SyncCertificateCredential
from azure.identity import ClientSecretCredential as SyncClientSecretCredential
from azure.identity.aio import CertificateCredential, ClientSecretCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from calls_async import (
    AuthenticationError,
    CallsClient,
    CallState,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    PollingPolicy,
    ServiceHostedMediaConfig,
)
from calls_async.testing import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    Emulator,
)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The host is not loopback, so the emulator skips these notifications and contacts
# no one; the client follows call states with GET.
CALLBACK_URI = "https://bot.example.com/api/calls"
FAST = {"establish_delay": 0.02, "terminate_delay": 0.02}


@dataclasses.dataclass(frozen=True)
class Tls:
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext
    ca_path: str
    """The CA bundle as a file, for azure-identity's `connection_verify`."""


@dataclasses.dataclass(frozen=True)
class AppCertificate:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    cert_pem: bytes
    key_pem: bytes

    @property
    def pem(self) -> bytes:
        """The certificate and its key in one PEM, as CertificateCredential takes."""
        return self.cert_pem + self.key_pem

    def thumbprint(self, algorithm: hashes.HashAlgorithm) -> str:
        digest = self.certificate.fingerprint(algorithm)
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_app_certificate(common_name: str = "calls-async test bot") -> AppCertificate:
    """Generate a self-signed certificate and RSA key, as an app registration has."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return AppCertificate(
        key=key,
        certificate=certificate,
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    server_certificate = ca.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_certificate.configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    ca_path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return Tls(server_context, client_context, str(ca_path))


@pytest.fixture(scope="module")
def app_certificate() -> AppCertificate:
    return new_app_certificate()


@pytest.fixture
async def emulator(
    tls: Tls, app_certificate: AppCertificate
) -> AsyncIterator[Emulator]:
    async with Emulator(
        ssl_context=tls.server_context,
        client_certificates=[app_certificate.cert_pem],
        **FAST,
    ) as emu:
        yield emu


@pytest.fixture
async def session(tls: Tls) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=tls.client_context)
    async with aiohttp.ClientSession(connector=connector) as client_session:
        yield client_session


def secret_credential(
    emulator: Emulator, tls: Tls, secret: str = DEFAULT_CLIENT_SECRET
) -> ClientSecretCredential:
    return ClientSecretCredential(
        emulator.tenant_id,
        emulator.app_id,
        secret,
        authority=emulator.url,
        connection_verify=tls.ca_path,
        disable_instance_discovery=True,
    )


def certificate_credential(
    emulator: Emulator, tls: Tls, certificate: AppCertificate, authority: str
) -> CertificateCredential:
    return CertificateCredential(
        emulator.tenant_id,
        emulator.app_id,
        certificate_data=certificate.pem,
        authority=authority,
        connection_verify=tls.ca_path,
        disable_instance_discovery=True,
    )


def calls_client(
    credential: Any, emulator: Emulator, session: aiohttp.ClientSession, **options: Any
) -> CallsClient:
    return CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        session=session,
        polling=PollingPolicy(initial_delay=0.02, max_delay=0.1),
        timeout=10.0,
        operation_timeout=10.0,
        **options,
    )


def user_target() -> InvitationParticipantInfo:
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id="u-1")))


def issued(emulator: Emulator) -> list[Any]:
    return [entry for entry in emulator.token_requests if entry.status == 200]


# -- the emulator over TLS ------------------------------------------------------


async def test_emulator_serves_https(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(emulator.url + "/_emulator/stats") as response:
        assert response.status == 200

    assert emulator.url.startswith("https://127.0.0.1:")
    assert emulator.base_url == emulator.url + "/v1.0"
    assert emulator.token_url.startswith("https://")


async def test_https_rejects_untrusted_client(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as untrusting:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await untrusting.get(emulator.url + "/_emulator/stats")


async def test_openid_configuration_has_what_msal_reads(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.url}/{DEFAULT_TENANT_ID}/v2.0/.well-known/openid-configuration"
    async with session.get(url) as response:
        config = await response.json()

    tenant_url = f"{emulator.url}/{DEFAULT_TENANT_ID}"
    assert config["token_endpoint"] == emulator.token_url
    assert config["authorization_endpoint"] == f"{tenant_url}/oauth2/v2.0/authorize"
    assert config["issuer"] == f"{tenant_url}/v2.0"
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]


async def test_openid_configuration_of_other_tenant_is_400(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.url}/other-tenant/v2.0/.well-known/openid-configuration"
    async with session.get(url) as response:
        body = await response.json()

    assert response.status == 400
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]


async def test_emulator_credential_over_https(emulator: Emulator, tls: Tls) -> None:
    async with emulator.credential(ssl_context=tls.client_context) as credential:
        token = await credential.get_token(GRAPH_SCOPE)

    assert token.token
    assert issued(emulator)[-1].credential == "client_secret"


# -- ClientSecretCredential -----------------------------------------------------


async def test_client_secret_credential_gets_token(
    emulator: Emulator, tls: Tls
) -> None:
    async with secret_credential(emulator, tls) as credential:
        token = await credential.get_token(GRAPH_SCOPE)

    (entry,) = emulator.token_requests
    assert entry.status == 200
    assert entry.client_id == DEFAULT_APP_ID
    assert entry.credential == "client_secret"
    assert token.expires_on == pytest.approx(time.time() + 3600, abs=5)
    assert emulator.stats.tokens_issued == 1


async def test_client_secret_credential_wrong_secret(
    emulator: Emulator, tls: Tls
) -> None:
    async with secret_credential(emulator, tls, secret="wrong-secret") as credential:
        with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
            await credential.get_token(GRAPH_SCOPE)

    (entry,) = emulator.token_requests
    assert entry.status == 401
    assert entry.error == "invalid_client"
    assert emulator.stats.tokens_issued == 0


async def test_wrong_secret_through_calls_client(
    emulator: Emulator, tls: Tls, session: aiohttp.ClientSession
) -> None:
    async with secret_credential(emulator, tls, secret="wrong-secret") as credential:
        async with calls_client(credential, emulator, session) as client:
            with pytest.raises(AuthenticationError, match="AADSTS7000215"):
                await client.calls.create(
                    targets=[user_target()], media_config=ServiceHostedMediaConfig()
                )

    assert list(emulator.requests) == [], "a Graph request went out without a token"


# -- CertificateCredential ------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_certificate_credential_gets_token(
    emulator: Emulator, tls: Tls, app_certificate: AppCertificate, host: str
) -> None:
    authority = f"https://{host}:{emulator.port}"
    async with certificate_credential(
        emulator, tls, app_certificate, authority
    ) as credential:
        token = await credential.get_token(GRAPH_SCOPE)

    (entry,) = emulator.token_requests
    assert entry.status == 200
    assert entry.credential == "client_assertion"
    assert token.token


async def test_certificate_credential_unknown_certificate(
    emulator: Emulator, tls: Tls
) -> None:
    stranger = new_app_certificate("not registered")
    async with certificate_credential(
        emulator, tls, stranger, emulator.url
    ) as credential:
        with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
            await credential.get_token(GRAPH_SCOPE)

    (entry,) = emulator.token_requests
    assert entry.status == 401
    assert entry.error == "invalid_client"
    assert entry.credential == "client_assertion"


async def test_certificate_registered_at_runtime(
    tls: Tls, app_certificate: AppCertificate
) -> None:
    async with Emulator(ssl_context=tls.server_context, **FAST) as emu:
        async with certificate_credential(
            emu, tls, app_certificate, emu.url
        ) as credential:
            with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
                await credential.get_token(GRAPH_SCOPE)

        thumbprint = emu.register_certificate(app_certificate.cert_pem.decode())

        async with certificate_credential(
            emu, tls, app_certificate, emu.url
        ) as credential:
            token = await credential.get_token(GRAPH_SCOPE)

    assert thumbprint == app_certificate.thumbprint(hashes.SHA256())
    assert token.token


def test_register_certificate_rejects_non_certificate() -> None:
    emulator = Emulator()
    with pytest.raises(ValueError, match="expected a PEM certificate"):
        emulator.register_certificate(b"-----BEGIN NOTHING-----\n")


def test_client_certificates_setting_needs_a_list(
    app_certificate: AppCertificate,
) -> None:
    with pytest.raises(ValueError, match="wrap it in a list"):
        Emulator(client_certificates=app_certificate.cert_pem)


# -- client assertions built by hand --------------------------------------------


def assertion(
    emulator: Emulator,
    certificate: AppCertificate,
    *,
    signing_key: rsa.RSAPrivateKey | str | None = None,
    algorithm: str = "PS256",
    thumbprint_header: str | None = "x5t#S256",
    valid_after: int = 0,
    expires_in: int = 600,
    **claim_overrides: Any,
) -> str:
    """Sign a client assertion; a claim override of None drops that claim.

    `valid_after` and `expires_in` set nbf and exp, in seconds from now.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": emulator.token_url,
        "iss": DEFAULT_APP_ID,
        "sub": DEFAULT_APP_ID,
        "jti": str(uuid.uuid4()),
        "nbf": now + valid_after,
        "exp": now + expires_in,
    }
    for name, value in claim_overrides.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    headers: dict[str, Any] = {}
    if thumbprint_header == "x5t#S256":
        headers["x5t#S256"] = certificate.thumbprint(hashes.SHA256())
    elif thumbprint_header == "x5t":
        headers["x5t"] = certificate.thumbprint(hashes.SHA1())
    key = signing_key if signing_key is not None else certificate.key
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


async def post_assertion(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    client_assertion: str,
    assertion_type: str = JWT_BEARER,
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_APP_ID,
        "scope": GRAPH_SCOPE,
        "client_assertion_type": assertion_type,
        "client_assertion": client_assertion,
    }
    async with session.post(emulator.token_url, data=form) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("algorithm", "thumbprint_header"), [("PS256", "x5t#S256"), ("RS256", "x5t")]
)
async def test_assertion_accepted(
    emulator: Emulator,
    session: aiohttp.ClientSession,
    app_certificate: AppCertificate,
    algorithm: str,
    thumbprint_header: str,
) -> None:
    signed = assertion(
        emulator,
        app_certificate,
        algorithm=algorithm,
        thumbprint_header=thumbprint_header,
    )

    status, body = await post_assertion(session, emulator, signed)

    assert status == 200, body
    assert body["token_type"] == "Bearer"


def _another_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("case", "options", "aadsts"),
    [
        ("signed by another key", {"signing_key": "another"}, 700027),
        ("no thumbprint header", {"thumbprint_header": None}, 700027),
        ("expired", {"valid_after": -660, "expires_in": -60}, 700024),
        ("not yet valid", {"valid_after": 300}, 700024),
        ("no exp", {"exp": None}, 700024),
        (
            "audience of Entra ID",
            {
                "aud": "https://login.microsoftonline.com/"
                f"{DEFAULT_TENANT_ID}/oauth2/v2.0/token"
            },
            700023,
        ),
        ("issuer of another app", {"iss": str(uuid.uuid4())}, 700021),
        ("subject of another app", {"sub": str(uuid.uuid4())}, 700021),
        ("no jti", {"jti": None}, 50027),
        (
            "HMAC signature",
            {"signing_key": "x" * 32, "algorithm": "HS256"},
            50027,
        ),
    ],
)
async def test_assertion_rejected(
    emulator: Emulator,
    session: aiohttp.ClientSession,
    app_certificate: AppCertificate,
    case: str,
    options: dict[str, Any],
    aadsts: int,
) -> None:
    if options.get("signing_key") == "another":
        options = {**options, "signing_key": _another_key()}
    signed = assertion(emulator, app_certificate, **options)

    status, body = await post_assertion(session, emulator, signed)

    assert status == 401, case
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [aadsts]
    assert body["error_description"].startswith(f"AADSTS{aadsts}:")
    assert "access_token" not in body


async def test_assertion_malformed(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    status, body = await post_assertion(session, emulator, "not-a-jwt")

    assert status == 401
    assert body["error_codes"] == [50027]


async def test_assertion_of_other_type_is_400(
    emulator: Emulator, session: aiohttp.ClientSession, app_certificate: AppCertificate
) -> None:
    signed = assertion(emulator, app_certificate)

    status, body = await post_assertion(
        session, emulator, signed, assertion_type="urn:example:other"
    )

    assert status == 400
    assert body["error"] == "invalid_request"


async def test_token_request_without_credential_is_400(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_APP_ID,
        "scope": GRAPH_SCOPE,
    }
    async with session.post(emulator.token_url, data=form) as response:
        body = await response.json()

    assert response.status == 400
    assert body["error_codes"] == [7000216]
    assert emulator.token_requests[-1].credential is None


# -- MSAL, under azure-identity's sync credentials ------------------------------


def _sync_tokens(emulator: Emulator, tls: Tls, certificate: AppCertificate) -> None:
    """Get one token with each sync credential; runs in a worker thread."""
    options: dict[str, Any] = {
        "authority": emulator.url,
        "connection_verify": tls.ca_path,
        "disable_instance_discovery": True,
    }
    secret = SyncClientSecretCredential(
        emulator.tenant_id, emulator.app_id, emulator.client_secret, **options
    )
    with secret:
        assert secret.get_token(GRAPH_SCOPE).token
    with SyncCertificateCredential(
        emulator.tenant_id, emulator.app_id, certificate_data=certificate.pem, **options
    ) as certificate_credential:
        assert certificate_credential.get_token(GRAPH_SCOPE).token


async def test_msal_credentials_get_tokens(
    emulator: Emulator, tls: Tls, app_certificate: AppCertificate
) -> None:
    await asyncio.to_thread(_sync_tokens, emulator, tls, app_certificate)

    credentials = [entry.credential for entry in issued(emulator)]
    assert credentials == ["client_secret", "client_assertion"]


# -- CallsClient with a real credential -----------------------------------------


async def test_calls_client_over_tls(
    emulator: Emulator, tls: Tls, session: aiohttp.ClientSession
) -> None:
    async with secret_credential(emulator, tls) as credential:
        async with calls_client(credential, emulator, session) as client:
            call = await client.calls.create(
                targets=[user_target()], media_config=ServiceHostedMediaConfig()
            )
            await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
            assert emulator.call_state(call.id) == "established"

            await call.hang_up()
            async with asyncio.timeout(5):
                await emulator.wait_for_state(call.id, None)

    paths = [(entry.method, entry.status) for entry in emulator.requests]
    assert ("POST", 201) in paths
    assert ("DELETE", 204) in paths
    assert len(issued(emulator)) == 1


# -- token refresh ----------------------------------------------------------------


async def keep_calling(
    call: Any, *, seconds: float, done: Callable[[], bool] | None = None
) -> int:
    """GET the call every 0.1 s for `seconds` and return how many GETs were sent.

    Once `done()` is true, three more GETs are sent and the loop stops early.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    sent = 0
    sent_after_done = 0
    while loop.time() < deadline and sent_after_done < 3:
        await call.refresh()
        sent += 1
        if done is not None and done():
            sent_after_done += 1
        await asyncio.sleep(0.1)
    return sent


async def test_short_lived_tokens_renewed(
    tls: Tls, session: aiohttp.ClientSession
) -> None:
    async with Emulator(
        ssl_context=tls.server_context, token_lifetime=3.0, **FAST
    ) as emu:
        async with secret_credential(emu, tls) as credential:
            async with calls_client(
                credential, emu, session, token_refresh_window=1.0
            ) as client:
                call = await client.calls.create(
                    targets=[user_target()], media_config=ServiceHostedMediaConfig()
                )
                sent = await keep_calling(call, seconds=7.5)
                await call.hang_up()

    tokens = issued(emu)
    # A token that azure-identity took at t0 expires for it at int(t0) + 3, so
    # 7.5 s take at least three tokens.
    assert len(tokens) >= 3
    assert sent > 30
    # The emulator rejects an expired or unknown token with 401 and counts it.
    assert emu.stats.auth_failures == 0
    assert emu.stats.responses_by_status[401] == 0
    assert all(entry.status != 401 for entry in emu.requests)


async def test_token_refreshed_before_expiry(
    tls: Tls, session: aiohttp.ClientSession
) -> None:
    # azure-identity 1.27 sends no new token request within 30 s of the last one
    # while its cached token is valid (see get_refresh_status and
    # DEFAULT_TOKEN_REFRESH_RETRY_DELAY in azure.identity). Only a token that lives
    # longer than 30 s plus the refresh window can therefore be renewed early.
    lifetime = 32.0
    async with Emulator(
        ssl_context=tls.server_context, token_lifetime=lifetime, **FAST
    ) as emu:
        async with secret_credential(emu, tls) as credential:
            async with calls_client(
                credential, emu, session, token_refresh_window=1.0
            ) as client:
                call = await client.calls.create(
                    targets=[user_target()], media_config=ServiceHostedMediaConfig()
                )
                await keep_calling(
                    call, seconds=lifetime + 5, done=lambda: len(issued(emu)) >= 2
                )
                await call.hang_up()

    tokens = issued(emu)
    assert len(tokens) == 2
    first, second = tokens
    assert first.expires_at is not None
    assert second.time < first.expires_at, "the second token came after expiry"
    assert second.time > first.time + 29, "the token was renewed far too early"
    assert emu.stats.auth_failures == 0
    assert emu.stats.responses_by_status[401] == 0
