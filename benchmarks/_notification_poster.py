"""The load generator of the notification benchmark: POST bodies as fast as it can.

It reads a JSON array of commsNotifications bodies and encodes them all before the
clock starts. Then it posts them to ``--url`` over ``--concurrency`` connections.
Each request carries the ``Authorization`` header of ``--token`` and an
``X-Bench-Index`` header with the body's position in the array, so the receiving
process can match a request to the operation it completes. The output is one JSON
line: bodies sent, seconds from the first send to the last reply, and the count of
each status.

    python -m benchmarks._notification_poster --url URL --bodies FILE --token TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from pathlib import Path

import aiohttp

# Seconds one POST may take before the run is reported as failed.
REQUEST_TIMEOUT = 10.0


async def post_all(
    url: str, bodies: list[bytes], token: str | None, concurrency: int
) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    statuses: collections.Counter[int] = collections.Counter()
    queue = collections.deque(enumerate(bodies))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while queue:
                index, body = queue.popleft()
                request_headers = {**headers, "X-Bench-Index": str(index)}
                async with session.post(
                    url, data=body, headers=request_headers
                ) as reply:
                    await reply.read()
                    statuses[reply.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "sent": len(bodies),
        "seconds": seconds,
        "statuses": {str(status): count for status, count in statuses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the webhook URL to post to")
    parser.add_argument(
        "--bodies", required=True, type=Path, help="JSON file with an array of bodies"
    )
    parser.add_argument("--token", help="bearer token sent with every request")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="requests in flight at once, one connection each (default 64)",
    )
    args = parser.parse_args()
    bodies = [json.dumps(body).encode() for body in json.loads(args.bodies.read_text())]
    result = asyncio.run(post_all(args.url, bodies, args.token, args.concurrency))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
