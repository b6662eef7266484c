"""The base class shared by every Graph model."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

__all__ = ["GraphModel"]

# One shared, read-only empty mapping, so a model without unknown fields costs no dict.
_NO_ADDITIONAL_DATA: Mapping[str, Any] = MappingProxyType({})


@attrs.define(frozen=True, slots=True, kw_only=True)
class GraphModel:
    """Base class of the Graph models.

    ``additional_data`` contains the wire fields this version does not model, keyed by
    their wire names, so that parsing a newer payload keeps them and ``to_wire`` writes
    them back unchanged. A model field wins over an ``additional_data`` entry with the
    same wire name. An ``@odata.type`` entry in ``additional_data`` replaces the
    type name the converter would write, which keeps a subtype this version does not
    model intact through a round trip.
    """

    # The Graph type name written as "@odata.type" (for example
    # "#microsoft.graph.mediaInfo"). Each subclass sets its own.
    odata_type: ClassVar[str] = ""

    additional_data: Mapping[str, Any] = attrs.field(
        default=_NO_ADDITIONAL_DATA, repr=False, hash=False
    )
