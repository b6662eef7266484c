"""Token endpoint, OpenID configurations and JWKS of the emulator.

`POST /{tenant}/oauth2/v2.0/token` plays the Microsoft Entra ID token endpoint for
the client credentials grant. Its errors use the Entra shape (`error`,
`error_description` with an AADSTS code, `error_codes`), not the Graph one.
`/v1/.well-known/OpenIdConfiguration` plays the calling platform's metadata, whose
JWKS carries the key that signs notification tokens.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import uuid
from collections.abc import Mapping

from aiohttp import hdrs, web

from calls_async.testing._context import CONTEXT, EmulatorContext
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


async def _token(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    settings = context.settings
    form = await request.post()
    tenant = request.match_info["tenant"]
    if tenant.lower() != settings.tenant_id.lower():
        return _entra_error(
            400, "invalid_request", 90002, f"Tenant '{tenant}' not found."
        )
    grant_type = form.get("grant_type")
    if grant_type != "client_credentials":
        return _entra_error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type {grant_type!r}; "
            "the emulator supports client_credentials.",
        )

    client_id, client_secret = _client_credentials(request, form)
    if client_id != settings.app_id:
        return _entra_error(
            401,
            "invalid_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the "
            f"directory '{settings.tenant_id}'.",
        )
    if client_secret != settings.client_secret:
        return _entra_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the "
            f"request is the client secret value for app '{client_id}'.",
        )
    scope = form.get("scope")
    if scope not in _GRAPH_SCOPES:
        return _entra_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope!r} is not valid; the emulator "
            f"issues tokens for {GRAPH_SCOPE}.",
        )

    token, expires_in = context.access_tokens.issue()
    context.stats.tokens_issued += 1
    return web.json_response(
        {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        },
        headers={hdrs.CACHE_CONTROL: "no-store, no-cache"},
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
    context = request.app[CONTEXT]
    tenant_id = context.settings.tenant_id
    return web.json_response(
        {
            "issuer": f"https://sts.windows.net/{tenant_id}/",
            "token_endpoint": f"{context.url}/{tenant_id}/oauth2/v2.0/token",
            "jwks_uri": f"{context.url}/{tenant_id}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "client_secret_basic",
            ],
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
