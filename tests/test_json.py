"""Tests of the JSON helpers, which use orjson and fall back to the standard library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from calls_async._json import canonical, loads
from calls_async._notifications import parse_notifications
from calls_async._protocol import parse_error_body, parse_json


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": [1, 2.5, null, true], "b": {"c": "\xc3\xa9"}}',
        b'{"big": 18446744073709551617, "small": -18446744073709551617}',
        b'{"top": 18446744073709551615, "low": -9223372036854775808}',
        b'{"below": -9223372036854775809}',
        "\ufeff".encode() + b'{"bom": 1}',
        '{"wide": 1}'.encode("utf-16"),
        b'{"nan": NaN, "inf": Infinity, "huge": 1e400}',
        b'{"half": "\\ud800"}',
        '{"text": "\u00e9"}',
    ],
    ids=[
        "plain",
        "integers beyond 64 bits",
        "64-bit limits",
        "below the signed 64-bit range",
        "byte order mark",
        "UTF-16",
        "NaN and Infinity",
        "lone surrogate",
        "str",
    ],
)
def test_loads_reads_what_json_reads(text: bytes | str) -> None:
    expected = json.loads(text)
    decoded = loads(text)
    # json.dumps writes NaN as NaN, so equal text means equal values, NaN included.
    assert json.dumps(decoded) == json.dumps(expected)
    assert [type(v) for v in decoded.values()] == [type(v) for v in expected.values()]


def test_canonical_ignores_key_order_at_every_level() -> None:
    first = {"b": 1, "a": {"d": [{"y": 1, "x": 2}], "c": 2}}
    second = {"a": {"c": 2, "d": [{"x": 2, "y": 1}]}, "b": 1}
    assert canonical(first) == canonical(second)
    assert canonical(first) != canonical({**first, "b": 2})


@pytest.mark.parametrize(
    "odd",
    [2**70, "\ud800", [[[[[[]]]]]]],
    ids=["integer beyond 64 bits", "lone surrogate", "nested lists"],
)
def test_canonical_writes_any_decoded_value(odd: Any) -> None:
    # orjson rejects the first two, so the standard library writes them.
    encoded = canonical({"odd": odd, "other": 1})
    assert encoded == canonical({"other": 1, "odd": odd})
    assert encoded != canonical({"odd": odd, "other": 2})


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"{not json", json.JSONDecodeError),
        (b'"\xff"', UnicodeDecodeError),
        (b"", json.JSONDecodeError),
        (b"[" * 100_000 + b"]" * 100_000, RecursionError),
    ],
    ids=["garbage", "invalid UTF-8", "empty", "too deep"],
)
def test_loads_raises_what_json_raises(text: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        loads(text)


def test_digest_is_the_same_in_another_process() -> None:
    # Instances that share a bus recognise a repeat by this digest, so it must not
    # depend on the process, as str hashes do.
    entry = {
        "changeType": "updated",
        "resourceUrl": "/communications/calls/abc",
        "resourceData": {"id": "abc", "state": "established", "n": 2**70},
    }
    script = (
        "import json, sys\n"
        "from calls_async._notifications import parse_notifications\n"
        "entry = json.loads(sys.argv[1])\n"
        "print(parse_notifications({'value': [entry]})[0].digest.hex())\n"
    )
    local_digest = parse_notifications({"value": [entry]})[0].digest.hex()
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps(entry)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        digests.add(done.stdout.strip())
    assert digests == {local_digest}


def test_responses_parse_as_json_parses_them() -> None:
    body = "\ufeff".encode() + b'{"id": "abc", "size": 18446744073709551617}'
    assert parse_json(body) == {"id": "abc", "size": 2**64 + 1}
    error = parse_error_body(b'{"error": {"code": "Busy", "message": NaN}}')
    assert error.code == "Busy"


def test_nesting_orjson_allows_and_json_does_not() -> None:
    # orjson decodes 1,000 levels, where json runs out of recursion. The digest of
    # such a value raises RecursionError, and the webhook then returns 400.
    deep = loads(b"[" * 1000 + b"]" * 1000)
    assert isinstance(deep, list)
    with pytest.raises(RecursionError):
        json.loads(b"[" * 1000 + b"]" * 1000)
    with pytest.raises(RecursionError):
        canonical(deep)
