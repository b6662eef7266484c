"""The control workload through msgraph-sdk and office365-rest-python-client.

Needs the ``bench`` extra (``pip install -e '.[bench]'``). Each peer runs the same
timed part as ``benchmarks.control_throughput`` against the same emulator process:
for every call, cancelMediaProcessing, updateRecordingStatus, unmute and DELETE.

- msgraph-sdk (async): a ``GraphServiceClient`` wired to the emulator as in
  ``tests/test_emulator_conformance.py``, with the SDK's default middleware. Calls
  are created through the SDK (not timed), and the timed burst runs all calls at
  once, each call's four requests one after another.
- office365-rest-python-client (synchronous): ``GraphClient`` with a token callback.
  Its base URL is fixed to Graph's, so the script replaces
  ``office365.graph_request.get_graph_authority`` with one that returns the
  emulator's root. Its ``calls.create`` sends only ``callbackUri``, which the
  emulator rejects as Graph does, so the calls are created with raw aiohttp (not
  timed). Then, as the library is meant to be used, each call queues its four
  actions and ``execute_query()`` sends them, one call after another on one thread.
- calls_async on the same number of calls, in the same run, for the ratios.

The clients take turns for ``--rounds`` rounds; the median is reported, with the
range. msgraph-sdk runs about 50 requests a second on this workload, so the default
is 100 calls.

    python -m benchmarks.peer_clients --calls 100 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import aiohttp

from benchmarks._common import (
    OFF_HOST_CALLBACK,
    USER_ID,
    EmulatorEndpoints,
    Stopwatch,
    Timed,
    create_call_body,
    emit,
    fetch_token,
    gather_bounded,
    positive_int,
    running_emulator,
    spread,
)
from benchmarks.control_throughput import SETTLE_SECONDS, calls_async_round


async def msgraph_round(emulator: EmulatorEndpoints, calls: int) -> Timed:
    """Run the workload through msgraph-sdk's request builders."""
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.communications.calls.item.cancel_media_processing.cancel_media_processing_post_request_body import (  # noqa: E501
        CancelMediaProcessingPostRequestBody,
    )
    from msgraph.generated.communications.calls.item.unmute.unmute_post_request_body import (  # noqa: E501
        UnmutePostRequestBody,
    )
    from msgraph.generated.communications.calls.item.update_recording_status.update_recording_status_post_request_body import (  # noqa: E501
        UpdateRecordingStatusPostRequestBody,
    )
    from msgraph.generated.models.call import Call
    from msgraph.generated.models.identity import Identity
    from msgraph.generated.models.identity_set import IdentitySet
    from msgraph.generated.models.invitation_participant_info import (
        InvitationParticipantInfo,
    )
    from msgraph.generated.models.modality import Modality
    from msgraph.generated.models.recording_status import RecordingStatus
    from msgraph.generated.models.service_hosted_media_config import (
        ServiceHostedMediaConfig,
    )
    from msgraph_core import GraphClientFactory

    async with emulator.credential() as credential:
        auth = AzureIdentityAuthenticationProvider(
            credential,
            scopes=["https://graph.microsoft.com/.default"],
            allowed_hosts=["127.0.0.1"],
        )
        # GraphClientFactory wraps the transport in one whose aclose() leaves the
        # wrapped transport open (msgraph-core 1.5.2), so this closes both itself.
        transport = httpx.AsyncHTTPTransport()
        http_client = httpx.AsyncClient(transport=transport)
        try:
            adapter = GraphRequestAdapter(
                auth,
                client=GraphClientFactory.create_with_default_middleware(
                    client=http_client
                ),
            )
            adapter.base_url = emulator.base_url
            graph = GraphServiceClient(request_adapter=adapter)

            async def create() -> str:
                call = Call(
                    callback_uri=OFF_HOST_CALLBACK,
                    targets=[
                        InvitationParticipantInfo(
                            identity=IdentitySet(user=Identity(id=USER_ID))
                        )
                    ],
                    requested_modalities=[Modality.Audio],
                    media_config=ServiceHostedMediaConfig(),
                )
                created = await graph.communications.calls.post(call)
                assert created is not None
                assert created.id
                return str(created.id)

            ids = await gather_bounded(create() for _ in range(calls))
            await asyncio.sleep(SETTLE_SECONDS)

            async def control(call_id: str) -> None:
                call = graph.communications.calls.by_call_id(call_id)
                await call.cancel_media_processing.post(
                    CancelMediaProcessingPostRequestBody(
                        client_context=str(uuid.uuid4())
                    )
                )
                await call.update_recording_status.post(
                    UpdateRecordingStatusPostRequestBody(
                        status=RecordingStatus.Recording,
                        client_context=str(uuid.uuid4()),
                    )
                )
                await call.unmute.post(
                    UnmutePostRequestBody(client_context=str(uuid.uuid4()))
                )
                await call.delete()

            watch = Stopwatch()
            await asyncio.gather(*(control(i) for i in ids))
            return watch.stop(4 * calls)
        finally:
            await http_client.aclose()
            await transport.aclose()


async def _create_raw(emulator: EmulatorEndpoints, calls: int) -> tuple[str, list[str]]:
    """Create calls with aiohttp; return the token and the call ids."""
    token = await fetch_token(emulator)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    body = create_call_body()
    async with aiohttp.ClientSession() as session:

        async def create() -> str:
            url = emulator.base_url + "/communications/calls"
            async with session.post(url, data=body, headers=headers) as reply:
                assert reply.status == 201, reply.status
                return str((await reply.json())["id"])

        ids = await gather_bounded(create() for _ in range(calls))
    await asyncio.sleep(SETTLE_SECONDS)
    return token, ids


def office365_round(emulator: EmulatorEndpoints, calls: int) -> Timed:
    """Run the workload through office365-rest-python-client, synchronously."""
    import office365.graph_request
    from office365.graph_client import GraphClient

    token, ids = asyncio.run(_create_raw(emulator, calls))
    root = emulator.base_url.removesuffix("/v1.0")
    original: Callable[[Any], str] = office365.graph_request.get_graph_authority
    office365.graph_request.get_graph_authority = lambda _environment: root
    try:
        client = GraphClient(
            token_callback=lambda: {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 3600,
            }
        )
        watch = Stopwatch()
        for call_id in ids:
            call = client.communications.calls[call_id]
            call.cancel_media_processing(client_context=str(uuid.uuid4()))
            call.update_recording_status("recording", str(uuid.uuid4()))
            call.unmute(str(uuid.uuid4()))
            call.delete()
            client.execute_query()
        return watch.stop(4 * calls)
    finally:
        office365.graph_request.get_graph_authority = original


def measure(emulator: EmulatorEndpoints, calls: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[Timed]] = {"calls_async": [], "msgraph": [], "office365": []}
    for _ in range(rounds):
        runs["calls_async"].append(asyncio.run(calls_async_round(emulator, calls))[0])
        runs["msgraph"].append(asyncio.run(msgraph_round(emulator, calls)))
        runs["office365"].append(office365_round(emulator, calls))
    result: dict[str, Any] = {
        "benchmark": "peers",
        "calls": calls,
        "rounds": rounds,
    }
    for name, timed in runs.items():
        result[f"{name}_rps"] = spread([t.rate for t in timed])
        result[f"{name}_cpu_us"] = spread([t.cpu_per_request_us for t in timed])
    lib = statistics.median(t.rate for t in runs["calls_async"])
    for name in ("msgraph", "office365"):
        result[f"calls_async_over_{name}"] = lib / statistics.median(
            t.rate for t in runs[name]
        )
    return result


def describe(result: dict[str, Any]) -> str:
    lines = [f"{result['calls']} calls, {result['rounds']} rounds"]
    for name in ("calls_async", "msgraph", "office365"):
        rate = result[f"{name}_rps"]
        cpu = result[f"{name}_cpu_us"]
        line = (
            f"  {name:<12} {rate['median']:>7.0f} req/s"
            f" (min {rate['min']:.0f}, max {rate['max']:.0f})"
            f"  CPU {cpu['median']:.0f} us/request"
        )
        if name != "calls_async":
            line += f"  calls_async is {result[f'calls_async_over_{name}']:.1f}x"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=positive_int, default=100, help="calls per round (default 100)"
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=3, help="rounds per client (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    # msgraph-sdk 1.65 and kiota-abstractions 1.16 warn about their own deprecated
    # classes while loading request builders.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with running_emulator() as emulator:
        result = measure(emulator, args.calls, args.rounds)
    emit(result, args.json, describe(result))


if __name__ == "__main__":
    main()
