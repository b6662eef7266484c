"""Bearer tokens for outgoing requests, from an azure-core ``AsyncTokenCredential``.

The cache holds one token for the Graph scope. Refresh is single-flight: the first
request that finds the token missing or inside the refresh window starts one fetch
task, and every request that arrives meanwhile awaits the same task, so a thousand
concurrent first requests cause one credential call and all resume together. A caller
that is cancelled leaves the fetch running for the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from calls_async._errors import AuthenticationError, ClientClosedError

__all__ = ["GRAPH_SCOPE", "AsyncTokenCredential", "TokenCache"]

GRAPH_SCOPE = "https://graph.microsoft.com/.default"

_log = logging.getLogger("calls_async.auth")


class _AccessToken(Protocol):
    @property
    def token(self) -> str: ...

    @property
    def expires_on(self) -> int: ...


class AsyncTokenCredential(Protocol):
    """The part of azure-core's ``AsyncTokenCredential`` protocol that is used here.

    Every credential in ``azure.identity.aio`` provides it.
    """

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        **kwargs: Any,
    ) -> _AccessToken: ...


class TokenCache:
    """The current Graph access token, refreshed shortly before it expires.

    Args:
        credential: any azure-core async credential.
        scope: the scope to request; Graph's ``.default`` scope unless overridden.
        refresh_window: seconds before expiry at which the token is renewed.
        timeout: seconds a single credential call may take.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        scope: str = GRAPH_SCOPE,
        refresh_window: float = 300.0,
        timeout: float = 30.0,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._refresh_window = refresh_window
        self._timeout = timeout
        self._token: str | None = None
        self._expires_on = 0.0
        self._refresh_at = 0.0
        # The fetch in progress, shared by every caller that needs a token meanwhile.
        self._fetching: asyncio.Task[str] | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "empty" if self._token is None else f"expires_on={self._expires_on:.0f}"
        return f"<TokenCache scope={self._scope!r} {state}>"

    def _is_fresh(self) -> bool:
        return self._token is not None and time.time() < self._refresh_at

    def cached(self) -> str | None:
        """Return the cached token if it is outside the refresh window, else None."""
        return self._token if self._is_fresh() else None

    async def get(self) -> str:
        """Return a valid access token, asking the credential only when needed."""
        if self._is_fresh():
            assert self._token is not None
            return self._token
        fetching = self._fetching
        if fetching is None:
            # One task for all callers, which then resume together. A lock would
            # let them through one per event-loop turn.
            fetching = self._fetching = asyncio.get_running_loop().create_task(
                self._refresh()
            )
            fetching.add_done_callback(self._fetch_done)
        try:
            # Shielded, so a caller that is cancelled leaves the fetch to the others.
            return await asyncio.shield(fetching)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and task is not None and not task.cancelling():
                # The fetch was stopped by aclose, not this caller.
                raise ClientClosedError(
                    "the client was closed while the request waited for a token"
                ) from None
            raise

    def _fetch_done(self, task: asyncio.Task[str]) -> None:
        if self._fetching is task:
            self._fetching = None
        if not task.cancelled():
            # Read here too, so a failure that no caller awaits any more is not
            # reported as never retrieved.
            task.exception()

    async def aclose(self) -> None:
        """Cancel a token fetch still running, and wait until it has stopped.

        Requests waiting for that token fail with :class:`ClientClosedError`.
        """
        self._closed = True
        fetching = self._fetching
        if fetching is not None:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after the service rejected it, so the next get refreshes.

        A token other than the cached one is ignored: another request already
        replaced it.
        """
        if self._token == token:
            self._token = None
            self._refresh_at = 0.0

    async def _refresh(self) -> str:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                access = await self._credential.get_token(self._scope)
        except TimeoutError as err:
            raise AuthenticationError(
                f"the credential returned no token for {self._scope} within "
                f"{self._timeout:g} s; check its network access or raise token_timeout"
            ) from err
        except Exception as err:
            # Credentials raise azure-core's ClientAuthenticationError, but also
            # ValueError or aiohttp errors of their own; all mean "no token".
            raise AuthenticationError(
                f"the credential failed to get a token for {self._scope}: {err}"
            ) from err
        token = getattr(access, "token", None)
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                f"the credential returned {type(access).__name__} without a token "
                f"string for {self._scope}"
            )
        self._token = token
        self._expires_on = float(getattr(access, "expires_on", 0) or 0)
        # A token that lives shorter than twice the window is renewed at half its life,
        # so short-lived tokens are not fetched again on every request.
        lifetime = max(0.0, self._expires_on - time.time())
        self._refresh_at = (
            time.time() + lifetime - min(self._refresh_window, lifetime / 2)
        )
        _log.info(
            "Got a token for %s, expires in %.0f s (%.3f s to fetch)",
            self._scope,
            self._expires_on - time.time(),
            time.monotonic() - started,
        )
        return token
