"""No token, client secret or recording access token reaches a log line or a repr."""

from __future__ import annotations

import io
import logging

import pytest

from calls_async import CallsClient
from calls_async._demo import DemoSettings, run_demo
from calls_async.testing import DEFAULT_CLIENT_SECRET, Emulator


async def test_demo_at_debug_logs_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    async with Emulator() as emulator:
        with caplog.at_level(logging.DEBUG):
            summary = await run_demo(
                DemoSettings(calls=4, inbound=4), out, emulator=emulator
            )
        graph_tokens = list(emulator._context.access_tokens._expiry_by_token)
        recording_tokens = list(emulator._context.recordings._token_by_id.values())
        notification_token = emulator._context.notification_signer.current_token()
    assert summary.ok, out.getvalue()
    assert graph_tokens
    assert recording_tokens
    secrets = [
        DEFAULT_CLIENT_SECRET,
        notification_token,
        *graph_tokens,
        *recording_tokens,
    ]
    texts = [out.getvalue()]
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
    assert len(caplog.records) > 50
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_reprs_hide_tokens(emulator: Emulator) -> None:
    async with emulator.credential() as credential:
        client = CallsClient(
            credential,
            callback_uri="http://127.0.0.1:9/calls",
            base_url=emulator.base_url,
        )
        async with client:
            call = client.calls["x"]
            await client._tokens.get()
            token = client._tokens._token
            assert token
            for obj in (client, client._tokens, client._transport, call, credential):
                assert token not in repr(obj)
            assert DEFAULT_CLIENT_SECRET not in repr(credential)
