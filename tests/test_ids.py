"""Id helpers: the case-folded key and the random UUIDs of requests and actions."""

from __future__ import annotations

import uuid

from calls_async._config import fold_id, random_uuid


def test_random_uuid_is_a_version_4_uuid() -> None:
    values = [random_uuid() for _ in range(2000)]
    assert len(set(values)) == len(values)
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value


def test_fold_id_reuses_a_lower_case_string() -> None:
    lower = "".join(["5c7588ab-", "e319"])
    assert fold_id(lower) is lower
    assert fold_id("ABC-def") == "abc-def"
    digits = "".join(["123-", "456"])
    assert fold_id(digits) is digits
