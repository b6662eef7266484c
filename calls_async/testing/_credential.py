"""An async token credential that gets its tokens from an emulator."""

from __future__ import annotations

import ssl
import time
from types import TracebackType
from typing import Any

import aiohttp
from azure.core.credentials import AccessToken

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class TokenRequestError(Exception):
    """The emulator's token endpoint rejected a token request.

    `error` is the OAuth error code, such as `invalid_client`.
    """

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(
            f"token request failed with HTTP {status} {error}: {description}"
        )
        self.status = status
        self.error = error
        self.description = description


class EmulatorCredential:
    """A client-secret credential for the emulator's token endpoint.

    It follows the azure-core `AsyncTokenCredential` protocol. Every `get_token`
    call sends one token request and caches nothing, so `token_requests` counts how
    often a client asked for a token. The HTTP session is created on first use,
    inside the running event loop, and closed by `close()`. `ssl_context` verifies
    an HTTPS token endpoint, by default against the system's CA certificates.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._ssl_context = ssl_context
        self.token_requests = 0
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return (
            f"EmulatorCredential(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r})"
        )

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """Request a token for the scopes; claims, tenant_id and CAE are ignored."""
        if not scopes:
            raise ValueError("get_token requires at least one scope")
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl_context or True)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "scope": " ".join(scopes),
        }

        self.token_requests += 1
        async with self._session.post(self.token_url, data=form) as response:
            body = await response.json(content_type=None)
        if response.status != 200:
            raise TokenRequestError(
                response.status,
                str(body.get("error", "unknown")),
                str(body.get("error_description", "")),
            )
        expires_on = int(time.time()) + int(body["expires_in"])
        return AccessToken(body["access_token"], expires_on)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> EmulatorCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
