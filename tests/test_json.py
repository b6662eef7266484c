"""The wire JSON helpers: orjson where it can, the standard library where it cannot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from calls_async._json import canonical, dumps, loads
from calls_async._notifications import parse_notifications


def test_dumps_is_compact_json() -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c": "é"}}
    encoded = dumps(value)
    assert b" " not in encoded
    assert json.loads(encoded) == value


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        # orjson refuses both; the standard library writes them.
        ({"big": 2**70}, {"big": 2**70}),
        ({1: "one"}, {"1": "one"}),
    ],
    ids=["integer beyond 64 bits", "integer key"],
)
def test_dumps_writes_what_orjson_refuses(value: Any, decoded: Any) -> None:
    assert json.loads(dumps(value)) == decoded


def test_dumps_still_refuses_values_that_are_not_json() -> None:
    with pytest.raises(TypeError):
        dumps({"when": object()})


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
    # orjson refuses the first two, so they take the standard library's way.
    encoded = canonical({"odd": odd, "other": 1})
    assert encoded == canonical({"other": 1, "odd": odd})
    assert encoded != canonical({"odd": odd, "other": 2})


@pytest.mark.parametrize(
    "text",
    [b"{not json", b"[NaN]", b'"\xff"', b"", b"[" * 2000 + b"]" * 2000],
    ids=["garbage", "NaN", "invalid UTF-8", "empty", "too deep"],
)
def test_loads_raises_a_json_decode_error(text: bytes) -> None:
    # A subclass of ValueError, which is what the callers catch.
    with pytest.raises(json.JSONDecodeError):
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
    here = parse_notifications({"value": [entry]})[0].digest.hex()
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
    assert digests == {here}
