"""Token endpoint, OpenID configurations and JWKS of the emulator.

`POST /{tenant}/oauth2/v2.0/token` plays the Microsoft Entra ID token endpoint for
the client credentials grant, with a client secret or a client assertion signed by
a registered certificate. Its errors use the Entra shape (`error`,
`error_description` with an AADSTS code, `error_codes`), not the Graph one.
`/{tenant}/v2.0/.well-known/openid-configuration` is the tenant's OpenID
configuration that MSAL fetches before its first token request.
`/v1/.well-known/OpenIdConfiguration` plays the calling platform's metadata, whose
JWKS carries the key that signs notification tokens.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import time
import uuid
from collections.abc import Mapping

from aiohttp import hdrs, web

from calls_async.testing._client_assertion import (
    JWT_BEARER,
    InvalidClientAssertion,
    normalize_audience,
)
from calls_async.testing._context import CONTEXT, EmulatorContext, RecordedTokenRequest
from calls_async.testing._tokens import NOTIFICATION_ISSUER

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Scopes that name the Graph resource: its URL and its well-known app id.
_GRAPH_SCOPES = frozenset(
    {GRAPH_SCOPE, "00000003-0000-0000-c000-000000000000/.default"}
)

TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"
NOTIFICATION_OPENID_PATH = "/v1/.well-known/OpenIdConfiguration"
NOTIFICATION_JWKS_PATH = "/v1/.well-known/keys"


def add_routes(app: web.Application) -> None:
    app.router.add_post(TOKEN_PATH, _token)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", _entra_openid)
    app.router.add_get("/{tenant}/discovery/v2.0/keys", _jwks)
    app.router.add_get(NOTIFICATION_OPENID_PATH, _notification_openid)
    app.router.add_get(NOTIFICATION_JWKS_PATH, _jwks)


class _TokenRequestRejected(Exception):
    """A token request that gets an Entra ID error response."""

    def __init__(
        self, status: int, error: str, aadsts_code: int, description: str
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.aadsts_code = aadsts_code
        self.description = description


async def _token(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    form = await request.post()
    client_id, client_secret = _client_credentials(request, form)
    if "client_assertion" in form or "client_assertion_type" in form:
        credential: str | None = "client_assertion"
    else:
        credential = "client_secret" if client_secret is not None else None

    try:
        _check_token_request(context, request, form, client_id, client_secret)
    except _TokenRequestRejected as err:
        _record_token_request(context, client_id, credential, err.status, err.error)
        return _entra_error(err.status, err.error, err.aadsts_code, err.description)

    token, expires_in = context.access_tokens.issue()
    context.stats.tokens_issued += 1
    _record_token_request(
        context,
        client_id,
        credential,
        200,
        None,
        expires_at=context.access_tokens.expires_at(token),
    )
    return web.json_response(
        {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        },
        headers={hdrs.CACHE_CONTROL: "no-store, no-cache"},
    )


def _check_token_request(
    context: EmulatorContext,
    request: web.Request,
    form: Mapping[str, object],
    client_id: str | None,
    client_secret: str | None,
) -> None:
    """Raise _TokenRequestRejected unless the request earns a token."""
    settings = context.settings
    tenant = request.match_info["tenant"]
    if tenant.lower() != settings.tenant_id.lower():
        raise _TokenRequestRejected(
            400, "invalid_request", 90002, f"Tenant '{tenant}' not found."
        )
    grant_type = form.get("grant_type")
    if grant_type != "client_credentials":
        raise _TokenRequestRejected(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type {grant_type!r}; "
            "the emulator supports client_credentials.",
        )
    if client_id is None:
        raise _TokenRequestRejected(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    if client_id != settings.app_id:
        raise _TokenRequestRejected(
            401,
            "invalid_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the "
            f"directory '{settings.tenant_id}'.",
        )
    _authenticate_client(context, request, form, client_id, client_secret)
    scope = form.get("scope")
    if scope not in _GRAPH_SCOPES:
        raise _TokenRequestRejected(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope!r} is not valid; the emulator "
            f"issues tokens for {GRAPH_SCOPE}.",
        )


def _authenticate_client(
    context: EmulatorContext,
    request: web.Request,
    form: Mapping[str, object],
    client_id: str,
    client_secret: str | None,
) -> None:
    """Check the client secret or the client assertion of a known client id."""
    assertion = form.get("client_assertion")
    assertion_type = form.get("client_assertion_type")
    if assertion is not None or assertion_type is not None:
        if assertion_type != JWT_BEARER or not isinstance(assertion, str):
            raise _TokenRequestRejected(
                400,
                "invalid_request",
                7000216,
                "A client assertion needs client_assertion_type "
                f"'{JWT_BEARER}' and a client_assertion JWT.",
            )
        try:
            context.client_certificates.verify(
                assertion,
                client_id=client_id,
                audiences=_assertion_audiences(context, request),
                now=time.time(),
            )
        except InvalidClientAssertion as err:
            raise _TokenRequestRejected(
                401, "invalid_client", err.aadsts_code, err.description
            ) from None
        return

    if client_secret is None:
        raise _TokenRequestRejected(
            400,
            "invalid_request",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the "
            "'client_credentials' grant type.",
        )
    if not hmac.compare_digest(
        client_secret.encode(), context.settings.client_secret.encode()
    ):
        raise _TokenRequestRejected(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the "
            f"request is the client secret value for app '{client_id}'.",
        )


def _assertion_audiences(context: EmulatorContext, request: web.Request) -> set[str]:
    """Return the token endpoint URLs that a client assertion may name in `aud`.

    They are the emulator's own token URL and the token URLs under the host the
    request was sent to, so a client that calls the emulator `localhost` works too.
    Entra ID also accepts the v1 endpoint `/{tenant}/oauth2/token`.
    """
    tenant = request.match_info["tenant"]
    roots = {context.url, f"{request.scheme}://{request.host}"}
    return {
        normalize_audience(f"{root}/{tenant}/{path}")
        for root in roots
        for path in ("oauth2/v2.0/token", "oauth2/token")
    }


def _record_token_request(
    context: EmulatorContext,
    client_id: str | None,
    credential: str | None,
    status: int,
    error: str | None,
    *,
    expires_at: float | None = None,
) -> None:
    context.token_log.append(
        RecordedTokenRequest(
            time=time.time(),
            client_id=client_id,
            credential=credential,
            status=status,
            error=error,
            expires_at=expires_at,
        )
    )


def _client_credentials(
    request: web.Request, form: Mapping[str, object]
) -> tuple[str | None, str | None]:
    """Read client_id and client_secret from the form or HTTP Basic auth."""
    client_id = form.get("client_id")
    client_secret = form.get("client_secret")
    scheme, _, encoded = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        basic_id, _, basic_secret = decoded.partition(":")
        client_id = client_id or basic_id
        client_secret = client_secret or basic_secret
    return (
        client_id if isinstance(client_id, str) else None,
        client_secret if isinstance(client_secret, str) else None,
    )


def _entra_error(
    status: int, error: str, aadsts_code: int, description: str
) -> web.Response:
    trace_id = str(uuid.uuid4())
    timestamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{aadsts_code}: {description} Trace ID: {trace_id} "
            f"Timestamp: {timestamp}"
        ),
        "error_codes": [aadsts_code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": str(uuid.uuid4()),
    }
    return web.json_response(body, status=status)


async def _entra_openid(request: web.Request) -> web.Response:
    """Serve the tenant's OpenID configuration, which MSAL reads before a token.

    MSAL requires `authorization_endpoint` and `token_endpoint`. The emulator
    serves no authorization endpoint, because it issues app tokens only.
    """
    context = request.app[CONTEXT]
    tenant = request.match_info["tenant"]
    tenant_id = context.settings.tenant_id
    if tenant.lower() != tenant_id.lower():
        return _entra_error(
            400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found."
        )
    tenant_url = f"{context.url}/{tenant_id}"
    return web.json_response(
        {
            "issuer": f"{tenant_url}/v2.0",
            "authorization_endpoint": f"{tenant_url}/oauth2/v2.0/authorize",
            "token_endpoint": f"{tenant_url}/oauth2/v2.0/token",
            "jwks_uri": f"{tenant_url}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "client_secret_basic",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
            "grant_types_supported": ["client_credentials"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": None,
        }
    )


async def _notification_openid(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    return web.json_response(notification_openid_configuration(context))


def notification_openid_configuration(context: EmulatorContext) -> dict[str, object]:
    return {
        "issuer": NOTIFICATION_ISSUER,
        "jwks_uri": context.url + NOTIFICATION_JWKS_PATH,
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }


async def _jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONTEXT].signing_key.jwks())
