"""The base class shared by every Graph model."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

__all__ = ["GraphModel", "fields_repr"]

# One shared, read-only empty mapping, so a model without unknown fields costs no dict.
_NO_ADDITIONAL_DATA: Mapping[str, Any] = MappingProxyType({})


def fields_repr(obj: Any) -> str:
    """Format an attrs instance as attrs' generated repr does: ``Name(field=value)``.

    A field declared with ``repr=False`` is left out, and a field whose ``repr`` is
    a callable is formatted by that callable. Classes that pass ``repr=False`` to
    attrs and use this instead spare attrs compiling a repr for each of them at
    import. A caller guards it with ``reprlib.recursive_repr`` where an instance
    can contain itself.
    """
    parts = []
    for field in attrs.fields(obj.__class__):
        if field.repr is False:
            continue
        if field.init:
            value = getattr(obj, field.name)
        else:
            # As in attrs' repr: a field that __init__ does not set may be unset.
            value = getattr(obj, field.name, attrs.NOTHING)
        formatted = repr(value) if field.repr is True else field.repr(value)
        parts.append(f"{field.name}={formatted}")
    name = obj.__class__.__qualname__.rsplit(">.", 1)[-1]
    return f"{name}({', '.join(parts)})"


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
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

    # Subclasses pass repr=False and getstate_setstate=False to attrs.define and
    # inherit the three methods below. Otherwise attrs generates these methods for
    # every class and compiles them while the package is imported. A subclass that
    # adds no field (most operation types) is not decorated at all: it sets
    # ``__slots__ = ()`` and inherits everything, including __init__ and __eq__.
    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        """Format the model as attrs' generated repr does (see :func:`fields_repr`).

        A model that contains itself, which is possible through a mutable value
        such as a dict, shows ``...`` at the inner occurrence.
        """
        return fields_repr(self)

    def __getstate__(self) -> dict[str, Any]:
        """Return the field values by name, for pickle and the copy module."""
        state = {
            field.name: getattr(self, field.name)
            for field in attrs.fields(self.__class__)
        }
        # The shared empty mapping is a MappingProxyType, which pickle rejects, so it
        # travels as None and __setstate__ puts it back. The state is therefore never
        # empty, which pickle protocols 0 and 1 would take as "nothing to restore".
        if state["additional_data"] is _NO_ADDITIONAL_DATA:
            state["additional_data"] = None
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        """Restore the field values returned by ``__getstate__``."""
        # The frozen class's own __setattr__ raises, so object's sets the slots.
        object.__setattr__(self, "additional_data", _NO_ADDITIONAL_DATA)
        for field in attrs.fields(self.__class__):
            if field.name not in state:
                continue
            value = state[field.name]
            if field.name == "additional_data" and value is None:
                continue
            object.__setattr__(self, field.name, value)
