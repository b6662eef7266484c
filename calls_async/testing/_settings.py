"""Settings of the emulator and the fake app registration it accepts."""

from __future__ import annotations

import dataclasses
import math

DEFAULT_APP_ID = "00000000-0000-4000-8000-00000000a991"
DEFAULT_TENANT_ID = "00000000-0000-4000-8000-00000000e991"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
THROTTLE_MODES = frozenset({"sliding", "fixed"})


@dataclasses.dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """Timings, limits and the app registration of one emulator.

    Durations are in seconds. Every setting can also be passed to `Emulator(...)` and
    `serve(...)` as a keyword argument.
    """

    establish_delay: float = 0.05
    """Time from `establishing` to `established`, after create or answer."""

    terminate_delay: float = 0.05
    """Time from `terminating` to `terminated`, after DELETE."""

    transfer_delay: float = 0.05
    """Time between the steps transferring, transferAccepted and terminated."""

    prompt_duration: float = 0.2
    """Playing time of one prompt; a playPrompt with N prompts runs N times this."""

    record_duration: float = 0.2
    """Recording time of a recordResponse, added to the time of its prompt if any."""

    operation_delay: float = 0.05
    """Time before a sendDtmfTones or addLargeGalleryView operation completes."""

    incoming_call_timeout: float = 15.0
    """Time a bot has to answer, reject or redirect an incoming call."""

    invite_delay: float = 0.05
    """Time from a participants invite to each invitee joining or failing."""

    invite_timeout_prefix: str = "timeout-"
    """An invitee whose identity id starts with this fails with 408/10057.

    The id is compared without case; an empty prefix matches no one.
    """

    invite_unreachable_prefix: str = "unreachable-"
    """An invitee whose identity id starts with this fails with 480/10076."""

    meeting_attendees: int = 2
    """Attendees already in a meeting that the bot joins or is invited to."""

    meeting_lobby_attendees: int = 1
    """Attendees waiting in the lobby of a meeting that the bot joins."""

    keep_alive_timeout: float = 2700.0
    """Time after the last keepAlive (or the answer or create) at which a call ends."""

    token_lifetime: float = 3600.0
    """Lifetime of the Graph access tokens issued by the token endpoint."""

    app_id: str = DEFAULT_APP_ID
    tenant_id: str = DEFAULT_TENANT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    client_certificates: tuple[bytes | str, ...] = ()
    """PEM certificates registered on the app. A client assertion signed with the
    private key of one of them authenticates the app instead of the client secret."""

    app_display_name: str = "Emulator Bot"

    require_auth: bool = True
    """Reject Graph requests without a valid bearer token issued by this emulator."""

    notification_timeout: float = 5.0
    """Time allowed for the bot to answer one notification POST."""

    notification_attempts: int = 4
    """Attempts per notification when the bot is unreachable or responds with 5xx."""

    notification_retry_backoff: float = 0.05
    """Wait before the first retry of a notification; it doubles on each retry."""

    notify_hosts: frozenset[str] = LOOPBACK_HOSTS
    """Callback hosts that notifications are sent to; others are logged as skipped."""

    request_log_size: int = 1000
    """Entries kept in the log of Graph requests and in the log of token requests."""

    notification_log_size: int = 1000

    throttle_limit: int = 0
    """Graph requests accepted per throttle_window before 429; 0 turns it off."""

    throttle_window: float = 1.0
    """Length of the throttling window in seconds."""

    throttle_mode: str = "sliding"
    """`sliding` counts the last throttle_window seconds; `fixed` resets each window."""

    def __post_init__(self) -> None:
        if isinstance(self.client_certificates, bytes | str):
            raise ValueError(
                "invalid emulator setting client_certificates: expected a list of "
                "PEM certificates, got one PEM value; wrap it in a list"
            )
        # A list is accepted and stored as a tuple, so the frozen settings cannot
        # change through it.
        object.__setattr__(self, "client_certificates", tuple(self.client_certificates))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if is_number and (value < 0 or not math.isfinite(value)):
                raise ValueError(
                    f"invalid emulator setting {field.name}={value!r}: "
                    "expected a finite number >= 0"
                )
        if self.throttle_mode not in THROTTLE_MODES:
            raise ValueError(
                f"invalid emulator setting throttle_mode={self.throttle_mode!r}: "
                "expected 'sliding' or 'fixed'"
            )
        if self.throttle_window <= 0:
            raise ValueError(
                "invalid emulator setting throttle_window="
                f"{self.throttle_window!r}: expected a number > 0"
            )
        if self.notification_attempts < 1:
            raise ValueError(
                "invalid emulator setting notification_attempts="
                f"{self.notification_attempts!r}: expected at least 1"
            )
