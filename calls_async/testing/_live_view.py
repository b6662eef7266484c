"""The live view: a page at /_emulator/ that shows the emulator's state as it changes.

`GET /_emulator/` returns one HTML page with inline CSS and JavaScript and no
external assets. The page opens the Server-Sent Events stream `GET /_emulator/events`,
whose every event is a JSON snapshot. A snapshot lists the live calls with their
participants and operations, the calls that ended while a view was open, the latest
notification deliveries and token requests, and the counters. A stream sends one
when it opens and after each change the `ChangeFeed` signals, at most one per
`_MIN_INTERVAL`, so a burst of changes costs one snapshot. The page puts every value
into the DOM as a text node or an attribute value, never as HTML, so call ids and
display names taken from requests show as text.

Closing the emulator closes the feed, which ends every stream at once, so open
pages do not hold up shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging

from aiohttp import hdrs, web

from calls_async.testing._change_feed import call_summary
from calls_async.testing._context import CONTEXT, EmulatorContext
from calls_async.testing._wire import JsonObject

PAGE_PATH = "/_emulator/"
EVENTS_PATH = "/_emulator/events"

# Minimum time between two snapshots on one stream, in seconds.
_MIN_INTERVAL = 0.1
# A stream with no change for this many seconds gets an SSE comment, so a page
# that has gone away is noticed by the failed write.
_KEEP_ALIVE_INTERVAL = 15.0
# Rows sent per table. The live calls sent are the newest ones.
_CALLS_SHOWN = 100
_NOTIFICATIONS_SHOWN = 50
_TOKEN_REQUESTS_SHOWN = 20

_LOGGER = logging.getLogger("calls_async.testing")

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; }
h1 { font-size: 1.3rem; }
h2 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left;
  vertical-align: top; }
th { background: #f3f3f3; }
ul { margin: 0; padding-left: 1rem; }
.id { font-family: ui-monospace, monospace; font-size: 12px; }
.state { font-weight: 600; }
.state-established { color: #0a7d32; }
.state-establishing, .state-incoming { color: #9a6700; }
.state-terminating, .state-terminated { color: #6e6e6e; }
.failed { color: #b3261e; }
.empty { color: #6e6e6e; }
#status.live { color: #0a7d32; }
#status.offline { color: #b3261e; }
"""

_SCRIPT = """
"use strict";
// Values from the emulator enter the page only as text nodes and attribute values.
function cell(...children) {
  const td = document.createElement("td");
  for (const child of children) {
    td.append(child instanceof Node ? child : String(child ?? ""));
  }
  return td;
}
function span(text, className) {
  const element = document.createElement("span");
  element.textContent = String(text ?? "");
  if (className) element.className = className;
  return element;
}
function list(items, describe) {
  if (items.length === 0) return span("none", "empty");
  const ul = document.createElement("ul");
  for (const item of items) {
    const li = document.createElement("li");
    describe(li, item);
    ul.append(li);
  }
  return ul;
}
function clock(seconds) {
  return new Date(seconds * 1000).toISOString().slice(11, 23);
}
function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}
function fill(tableId, rows, emptyText, columns) {
  if (rows.length === 0) {
    const td = cell(span(emptyText, "empty"));
    td.colSpan = columns;
    rows = [row(td)];
  }
  document.querySelector(`#${tableId} tbody`).replaceChildren(...rows);
}
function callRow(call) {
  const participants = list(call.participants, (li, p) => {
    const flags = [p.bot && "bot", p.inLobby && "lobby", p.muted && "muted",
      p.onHold && "on hold"].filter(Boolean);
    li.dataset.participantId = p.id;
    li.append(span(p.name ?? p.id));
    if (flags.length) li.append(span(` (${flags.join(", ")})`, "empty"));
  });
  const operations = list(call.operations, (li, op) => {
    li.dataset.operationId = op.id;
    li.append(span(op.type), " ",
      span(op.status, op.status === "failed" ? "op-status failed" : "op-status"));
    if (op.result) li.append(" ", span(op.result, "empty"));
  });
  const tr = row(cell(span(call.id, "id")),
    cell(span(call.state, `state state-${call.state}`)), cell(call.direction),
    cell(participants), cell(operations), cell(call.result ?? ""));
  tr.dataset.callId = call.id;
  return tr;
}
function notificationRow(n) {
  const failed = n.status === null || n.status >= 300;
  return row(cell(clock(n.time)), cell(span(n.callId, "id")), cell(n.changeType),
    cell(span(n.resourceUrl, "id")),
    cell(span(n.status ?? "no reply", failed ? "failed" : "")),
    cell(n.attempts), cell(span(n.error ?? "", "failed")));
}
function tokenRow(t) {
  return row(cell(clock(t.time)), cell(span(t.clientId ?? "", "id")),
    cell(t.credential ?? "none"),
    cell(span(t.status, t.status === 200 ? "" : "failed")),
    cell(t.expiresAt ? clock(t.expiresAt) : ""), cell(span(t.error ?? "", "failed")));
}
function render(view) {
  const calls = [...view.calls, ...view.ended.slice().reverse()];
  fill("calls", calls.map(callRow), "no calls yet", 6);
  fill("notifications", view.notifications.slice().reverse().map(notificationRow),
    "no notifications yet", 7);
  fill("tokens", view.tokenRequests.slice().reverse().map(tokenRow),
    "no token requests yet", 6);
  const s = view.stats;
  document.getElementById("stats").textContent = [
    `live calls: ${view.callsLive}`, `requests: ${s.requests}`,
    `tokens issued: ${s.tokens_issued}`, `rejected tokens: ${s.auth_failures}`,
    `notifications sent: ${s.notifications_sent}`,
    `failed: ${s.notifications_failed}`, `retries: ${s.notification_retries}`,
  ].join(" · ");
}
const status = document.getElementById("status");
function setStatus(text) {
  status.textContent = text;
  status.className = text;
}
const source = new EventSource("/_emulator/events");
source.onmessage = (event) => {
  render(JSON.parse(event.data));
  setStatus("live");
};
source.onerror = () => setStatus("offline");
"""

_BODY = """<h1>Graph calls emulator <span id="status">connecting</span></h1>
<p id="stats"></p>
<h2>Calls</h2>
<table id="calls"><thead><tr><th>Call</th><th>State</th><th>Direction</th>
<th>Participants</th><th>Operations</th><th>Result</th></tr></thead>
<tbody></tbody></table>
<h2>Notifications, newest first</h2>
<table id="notifications"><thead><tr><th>Time (UTC)</th><th>Call</th>
<th>Change</th><th>Resource</th><th>Status</th><th>Attempts</th><th>Error</th>
</tr></thead><tbody></tbody></table>
<h2>Token requests, newest first</h2>
<table id="tokens"><thead><tr><th>Time (UTC)</th><th>Client</th>
<th>Credential</th><th>Status</th><th>Expires</th><th>Error</th></tr></thead>
<tbody></tbody></table>
"""

PAGE = "".join(
    [
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        "<title>Graph calls emulator</title>\n",
        f"<style>{_STYLE}</style>\n</head>\n<body>\n{_BODY}",
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n",
    ]
)


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


# The page may run only its own inline script and style, and connect only to the
# emulator that served it.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_csp_hash(_SCRIPT)}; "
    f"style-src {_csp_hash(_STYLE)}; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PAGE_PATH.rstrip("/"), _redirect_to_page)
    app.router.add_get(PAGE_PATH, _page)
    app.router.add_get(EVENTS_PATH, _events)


async def _redirect_to_page(request: web.Request) -> web.Response:
    raise web.HTTPFound(PAGE_PATH)


async def _page(request: web.Request) -> web.Response:
    return web.Response(
        text=PAGE,
        content_type="text/html",
        headers={
            hdrs.CACHE_CONTROL: "no-store",
            hdrs.CONTENT_SECURITY_POLICY: CONTENT_SECURITY_POLICY,
            hdrs.X_CONTENT_TYPE_OPTIONS: "nosniff",
        },
    )


async def _events(request: web.Request) -> web.StreamResponse:
    """Stream snapshots until the page goes away or the emulator closes."""
    context = request.app[CONTEXT]
    feed = context.feed
    response = web.StreamResponse(
        headers={
            hdrs.CONTENT_TYPE: "text/event-stream",
            hdrs.CACHE_CONTROL: "no-store",
        }
    )
    with feed.subscribe() as wake:
        try:
            await response.prepare(request)
            # An EventSource reconnects after this many milliseconds.
            await response.write(b"retry: 1000\n\n")
            while not feed.closed:
                try:
                    async with asyncio.timeout(_KEEP_ALIVE_INTERVAL):
                        await wake.wait()
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if feed.closed:
                    break
                wake.clear()
                data = json.dumps(snapshot(context), separators=(",", ":"))
                await response.write(f"data: {data}\n\n".encode())
                await asyncio.sleep(_MIN_INTERVAL)
        except ConnectionResetError:
            _LOGGER.debug("live view at %s disconnected", request.remote)
    return response


def snapshot(context: EmulatorContext) -> JsonObject:
    """Return what the live view shows now, as sent in one event."""
    live_calls = context.registry.all_calls()[-_CALLS_SHOWN:]
    deliveries = list(context.notifier.deliveries)[-_NOTIFICATIONS_SHOWN:]
    token_requests = list(context.token_log)[-_TOKEN_REQUESTS_SHOWN:]
    return {
        "calls": [call_summary(call) for call in live_calls],
        "callsLive": len(context.registry),
        "ended": list(context.feed.ended_calls),
        "notifications": [
            {
                "time": delivery.time,
                "callId": delivery.call_id,
                "changeType": delivery.change_type,
                "resourceUrl": delivery.resource_url,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "error": delivery.error,
            }
            for delivery in deliveries
        ],
        "tokenRequests": [
            {
                "time": entry.time,
                "clientId": entry.client_id,
                "credential": entry.credential,
                "status": entry.status,
                "error": entry.error,
                "expiresAt": entry.expires_at,
            }
            for entry in token_requests
        ],
        "stats": context.stats.as_dict(),
    }
