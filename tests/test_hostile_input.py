"""Any JSON from the network gives a parsed value or the library's own parse error."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls_async import CallsClient, ResponseParseError
from calls_async._notifications import parse_notifications, parse_resource_url

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

resource_urls = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda call, tail: f"/communications/calls/{call}{tail}",
        st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s),
        st.sampled_from(
            ["", "/participants", "/operations/op-1", "/contentsharingsessions", "/x"]
        ),
    ),
)

entries = st.fixed_dictionaries(
    {
        "changeType": st.one_of(
            st.sampled_from(["created", "updated", "deleted", "Updated"]), json_values
        ),
        "resourceUrl": st.one_of(resource_urls, json_values),
    },
    optional={
        "resourceData": json_values,
        "@odata.type": st.just("#microsoft.graph.commsNotification"),
    },
)

envelopes = st.one_of(
    json_values,
    st.fixed_dictionaries({"value": st.lists(entries, max_size=4)}),
    st.fixed_dictionaries(
        {"@odata.type": st.text(max_size=30), "value": st.lists(entries, max_size=3)}
    ),
)


@given(envelopes)
@settings(max_examples=400, deadline=None)
def test_parser_returns_entries_or_parse_error(data: Any) -> None:
    try:
        parsed = parse_notifications(data)
    except ResponseParseError:
        return
    assert isinstance(parsed, list)
    for entry in parsed:
        assert isinstance(entry.change_type, str)
        assert entry.change_type == entry.change_type.lower()


@given(st.text(max_size=80))
def test_resource_url_never_raises(url: str) -> None:
    call_id, kind, child = parse_resource_url(url)
    assert call_id is None or isinstance(call_id, str)
    assert child is None or isinstance(child, str)
    assert kind is not None


class _NoToken:
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("applying notifications must send no request")


@given(items=st.lists(entries, min_size=1, max_size=4))
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_dispatch_fails_only_with_parse_errors(
    items: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    try:
        parsed = parse_notifications({"value": items})
    except ResponseParseError:
        return

    async def apply() -> CallsClient:
        client = CallsClient(_NoToken(), callback_uri="https://bot.example.com/calls")
        for entry in parsed:
            if entry.call_id:
                client.calls[entry.call_id]
        client.notifications.apply(parsed, None)
        await client.aclose()
        return client

    caplog.clear()
    with caplog.at_level(logging.ERROR, "calls_async.notifications"):
        client = asyncio.run(apply())
    for record in caplog.records:
        assert record.exc_info is not None
        assert record.exc_info[0] is ResponseParseError, record.getMessage()
    assert client.notifications.entries_failed == len(caplog.records)
