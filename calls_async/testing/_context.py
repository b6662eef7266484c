"""The parts of one emulator that its HTTP routes share."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from aiohttp import web

from calls_async.testing._audio_routing import AudioRoutingGroups
from calls_async.testing._calls import CallActions
from calls_async.testing._change_feed import ChangeFeed
from calls_async.testing._client_assertion import ClientCertificates
from calls_async.testing._faults import FaultInjector
from calls_async.testing._notifier import Notifier
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


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One Graph API request as received, for tests that check the wire format.

    The Authorization value is replaced by "[redacted]" so that no token is kept.
    """

    time: float
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    """The decoded JSON body, the raw text when it is not JSON, or None when empty."""
    status: int
    request_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedTokenRequest:
    """One request to the token endpoint and its outcome.

    Neither the client secret nor the client assertion is kept.
    """

    time: float
    client_id: str | None
    credential: str | None
    """`client_secret`, `client_assertion`, or None when the request had neither."""
    status: int
    error: str | None
    """The OAuth error code, such as `invalid_client`; None when a token was issued."""
    expires_at: float | None
    """When the issued token stops being accepted, in seconds since the epoch."""


@dataclasses.dataclass(slots=True)
class EmulatorContext:
    settings: EmulatorSettings
    stats: EmulatorStats
    signing_key: SigningKey
    access_tokens: AccessTokenIssuer
    notification_signer: NotificationTokenSigner
    notifier: Notifier
    recordings: RecordingStore
    registry: CallRegistry
    calls: CallActions
    operations: OperationActions
    participants: ParticipantActions
    audio_routing_groups: AudioRoutingGroups
    faults: FaultInjector
    client_certificates: ClientCertificates
    feed: ChangeFeed
    request_log: collections.deque[RecordedRequest]
    token_log: collections.deque[RecordedTokenRequest]
    url: str = ""
    """Root URL of the running emulator, such as http://127.0.0.1:8080."""

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"


CONTEXT = web.AppKey("context", EmulatorContext)
