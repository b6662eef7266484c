"""The Emulator: a local Graph calls service on loopback, and its Python API."""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from calls_async.testing import _identity, _server
from calls_async.testing._audio_routing import AudioRoutingGroups
from calls_async.testing._calls import CallActions
from calls_async.testing._change_feed import ChangeFeed
from calls_async.testing._client_assertion import ClientCertificates
from calls_async.testing._context import (
    EmulatorContext,
    RecordedRequest,
    RecordedTokenRequest,
)
from calls_async.testing._credential import EmulatorCredential
from calls_async.testing._faults import FaultInjector
from calls_async.testing._notifier import NotificationDelivery, Notifier
from calls_async.testing._operations import OperationActions
from calls_async.testing._participants import ParticipantActions
from calls_async.testing._recordings import RecordingStore
from calls_async.testing._registry import CallRegistry
from calls_async.testing._settings import EmulatorSettings
from calls_async.testing._stats import EmulatorStats
from calls_async.testing._tokens import (
    AccessTokenIssuer,
    NotificationTokenSigner,
    SigningKey,
)
from calls_async.testing._wire import JsonObject

_LOGGER = logging.getLogger("calls_async.testing")

# Seconds that closing waits for requests still being handled.
_SHUTDOWN_TIMEOUT = 1.0
# Listen backlog, sized for a thousand clients connecting at once.
_BACKLOG = 1024


class Emulator:
    """The Microsoft Graph calls API, served on loopback for tests and demos.

    Keyword arguments override fields of `EmulatorSettings`, for example
    `Emulator(establish_delay=0.01, prompt_duration=0.05)`. Port 0 picks a free
    port. Use `async with Emulator() as emulator:` or `start()` and `close()`.
    With `ssl_context`, a server-side `ssl.SSLContext` loaded with a certificate
    and key, the emulator serves HTTPS and its URLs start with `https://`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        settings: EmulatorSettings | None = None,
        ssl_context: ssl.SSLContext | None = None,
        **overrides: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.settings = dataclasses.replace(settings or EmulatorSettings(), **overrides)
        self._context = _build_context(self.settings, self._recording_url)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Root URL, such as http://127.0.0.1:8080; set once the emulator runs."""
        if not self._context.url:
            raise RuntimeError("the emulator is not running: await start() first")
        return self._context.url

    @property
    def base_url(self) -> str:
        """The Graph base URL that clients use, `{url}/v1.0`."""
        return f"{self.url}/v1.0"

    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.settings.tenant_id}/oauth2/v2.0/token"

    @property
    def live_view_url(self) -> str:
        """The page that shows calls, operations and notifications as they change."""
        return self.url + "/_emulator/"

    @property
    def openid_configuration_url(self) -> str:
        """OpenID configuration of the notification signing key."""
        return self.url + _identity.NOTIFICATION_OPENID_PATH

    @property
    def jwks_url(self) -> str:
        return self.url + _identity.NOTIFICATION_JWKS_PATH

    @property
    def app_id(self) -> str:
        return self.settings.app_id

    @property
    def tenant_id(self) -> str:
        return self.settings.tenant_id

    @property
    def client_secret(self) -> str:
        return self.settings.client_secret

    @property
    def signing_key_id(self) -> str:
        return self._context.signing_key.key_id

    @property
    def stats(self) -> EmulatorStats:
        return self._context.stats

    @property
    def faults(self) -> FaultInjector:
        """The fault rules and the throttle; see `FaultInjector.add`."""
        return self._context.faults

    @property
    def requests(self) -> collections.deque[RecordedRequest]:
        """The latest Graph requests received, oldest first."""
        return self._context.request_log

    @property
    def notifications(self) -> collections.deque[NotificationDelivery]:
        """The latest notification deliveries, oldest first."""
        return self._context.notifier.deliveries

    @property
    def token_requests(self) -> collections.deque[RecordedTokenRequest]:
        """The latest requests to the token endpoint, oldest first."""
        return self._context.token_log

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._context.faults.open()
        await self._context.notifier.start()
        runner = web.AppRunner(
            _server.build_app(self._context),
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(
                runner,
                self.host,
                self.port,
                backlog=_BACKLOG,
                ssl_context=self.ssl_context,
            )
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self._context.notifier.close()
            raise

        self._runner = runner
        self.port = runner.addresses[0][1]
        scheme = "https" if self.ssl_context is not None else "http"
        self._context.url = f"{scheme}://{_url_host(self.host)}:{self.port}"
        _LOGGER.info("emulator listening on %s", self._context.url)

    async def close(self) -> None:
        """Stop serving, cancel every timer and pending notification, close sessions.

        Open live view streams end first, so they do not delay the shutdown.
        """
        self._context.feed.close()
        self._context.faults.close()
        self._context.registry.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            _LOGGER.info("emulator on %s stopped", self._context.url)
        await self._context.notifier.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def credential(
        self, *, ssl_context: ssl.SSLContext | None = None
    ) -> EmulatorCredential:
        """Return a new credential for this emulator's app; the caller closes it.

        For an HTTPS emulator, `ssl_context` is a client-side context that trusts
        the emulator's certificate.
        """
        return EmulatorCredential(
            self.token_url, self.app_id, self.client_secret, ssl_context=ssl_context
        )

    def register_certificate(self, certificate_pem: bytes | str) -> str:
        """Register a PEM certificate on the app and return its SHA-256 thumbprint.

        Client assertions signed with its private key then authenticate the app,
        as with the `client_certificates` setting. The thumbprint is base64url
        without padding, as in an `x5t#S256` header. Raises ValueError for data
        that contains no certificate or a key that is not RSA.
        """
        return self._context.client_certificates.register(certificate_pem)

    def issue_token(self, lifetime: float | None = None) -> str:
        """Issue a Graph access token directly, by default for token_lifetime."""
        token, _ = self._context.access_tokens.issue(lifetime)
        self._context.stats.tokens_issued += 1
        return token

    def sign_notification_token(self, **claim_overrides: Any) -> str:
        """Sign a notification token with the emulator's key.

        The claims are those of real notifications (iss, aud, tid, iat, nbf, exp);
        each keyword replaces one, and a keyword set to None removes it.
        """
        return self._context.notification_signer.sign(**claim_overrides)

    def call_state(self, call_id: str) -> str | None:
        """Return the state of a live call, or None once it has ended."""
        call = self._context.registry.get(call_id)
        return call.state if call is not None else None

    def call_resource(self, call_id: str) -> JsonObject | None:
        call = self._context.registry.get(call_id)
        return call.resource() if call is not None else None

    def operation_resource(self, call_id: str, operation_id: str) -> JsonObject | None:
        call = self._context.registry.get(call_id)
        if call is None:
            return None
        operation = call.operations.get(operation_id.lower())
        return operation.resource() if operation is not None else None

    def participants(self, call_id: str) -> list[JsonObject] | None:
        """Return the participant resources of a live call, or None once ended."""
        call = self._context.registry.get(call_id)
        return call.roster.resources() if call is not None else None

    def participant_resource(
        self, call_id: str, participant_id: str
    ) -> JsonObject | None:
        call = self._context.registry.get(call_id)
        participant = call.roster.get(participant_id) if call is not None else None
        return participant.resource() if participant is not None else None

    async def wait_for_state(self, call_id: str, state: str | None) -> None:
        """Wait until the call is in `state`, or has ended if `state` is None.

        Raises EmulatorError if the call has ended or ends before reaching `state`.
        Wrap the call in `asyncio.timeout()` to bound the wait.
        """
        await self._context.registry.wait_for_state(call_id, state)

    async def wait_for_operation(self, call_id: str, operation_id: str) -> JsonObject:
        """Wait until the operation has completed or failed and return its resource.

        Raises EmulatorError if the operation is unknown or its call ends first.
        """
        operation = await self._context.registry.wait_for_operation(
            call_id, operation_id
        )
        return operation.resource()

    async def ring(
        self,
        callback_uri: str,
        *,
        caller: Mapping[str, Any] | None = None,
        group: bool = False,
        modalities: Sequence[str] = ("audio",),
        answer_timeout: float | None = None,
    ) -> str:
        """Ring the bot with an incoming call and return the new call's id.

        `caller` is the identitySet of the caller, a new user by default. A group
        call carries chatInfo and meetingInfo like an invitation to a meeting, and
        a meeting's attendees and lobby guests (see meeting_attendees). The
        call ends with 408/1106 unless answered, rejected or redirected within
        `answer_timeout` seconds, by default incoming_call_timeout.
        """
        call = self._context.calls.ring(
            callback_uri,
            caller=caller,
            group=group,
            modalities=modalities,
            answer_timeout=answer_timeout,
        )
        self._context.feed.changed()
        return call.id

    async def press_tones(self, call_id: str, tones: Sequence[str]) -> None:
        """Press DTMF tones on the far side of a call that subscribed to tones."""
        self._context.calls.press_tones(call_id, tones)
        self._context.feed.changed()

    async def hang_up_remote(self, call_id: str) -> None:
        """End a call from the far side, with resultInfo 200/4521."""
        self._context.calls.hang_up_remote(call_id)
        self._context.feed.changed()

    async def join_participant(
        self,
        call_id: str,
        *,
        identity: Mapping[str, Any] | None = None,
        display_name: str | None = None,
        in_lobby: bool = False,
        muted: bool = False,
        participant_id: str | None = None,
    ) -> str:
        """Add a participant to a call, as if they joined, and return its id.

        `identity` is an identitySet, by default a new user named `display_name`.
        A participant `in_lobby` waits there until `admit_participant`.
        """
        participant = self._context.participants.join(
            call_id,
            identity=identity,
            display_name=display_name,
            in_lobby=in_lobby,
            muted=muted,
            participant_id=participant_id,
        )
        self._context.feed.changed()
        return participant.id

    async def leave_participant(self, call_id: str, participant_id: str) -> None:
        """Make a participant other than the bot leave the call."""
        self._context.participants.leave(call_id, participant_id)
        self._context.feed.changed()

    async def admit_participant(self, call_id: str, participant_id: str) -> None:
        """Admit a participant who waits in the lobby into the call."""
        self._context.participants.admit(call_id, participant_id)
        self._context.feed.changed()

    async def start_screen_sharing(self, call_id: str, participant_id: str) -> str:
        """Make a participant share its screen; return the new session's id."""
        session = self._context.participants.start_screen_sharing(
            call_id, participant_id
        )
        self._context.feed.changed()
        return session.id

    async def stop_screen_sharing(self, call_id: str, participant_id: str) -> None:
        self._context.participants.stop_screen_sharing(call_id, participant_id)
        self._context.feed.changed()

    async def drain_notifications(self) -> None:
        """Wait until every queued notification is delivered or given up.

        Wrap the call in `asyncio.timeout()` to bound the wait.
        """
        await self._context.notifier.drain()

    def _recording_url(self, recording_id: str) -> str:
        return f"{self.url}/recordings/{recording_id}"


def _build_context(
    settings: EmulatorSettings, recording_url: Callable[[str], str]
) -> EmulatorContext:
    stats = EmulatorStats()
    feed = ChangeFeed()
    signing_key = SigningKey()
    signer = NotificationTokenSigner(signing_key, settings)
    faults = FaultInjector(settings, stats)
    notifier = Notifier(settings, signer, stats, faults, feed)
    registry = CallRegistry(settings, stats, notifier, feed)
    recordings = RecordingStore()
    participants = ParticipantActions(registry)
    operations = OperationActions(registry, recordings, recording_url, participants)
    return EmulatorContext(
        settings=settings,
        stats=stats,
        signing_key=signing_key,
        access_tokens=AccessTokenIssuer(signing_key, settings),
        notification_signer=signer,
        notifier=notifier,
        recordings=recordings,
        registry=registry,
        calls=CallActions(registry, operations, participants),
        operations=operations,
        participants=participants,
        audio_routing_groups=AudioRoutingGroups(registry),
        faults=faults,
        client_certificates=ClientCertificates(settings.client_certificates),
        feed=feed,
        request_log=collections.deque(maxlen=settings.request_log_size),
        token_log=collections.deque(maxlen=settings.request_log_size),
    )


def _url_host(host: str) -> str:
    """Return the host as written in a URL; a wildcard address becomes loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host
