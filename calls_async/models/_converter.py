"""Conversion between the models and Graph's JSON.

``to_wire`` turns a model into the JSON-ready dict Graph expects, and ``from_wire``
reads decoded JSON into a model. Both use one ``cattrs.Converter`` whose hooks are
generated once per class, on that class's first use, so a request or a response costs
a few dict operations per field and no reflection.

Writing (``to_wire``):

- Field names become camelCase (``media_info`` gives ``mediaInfo``). A field whose wire
  name is not the plain camelCase form sets ``metadata={"wire_name": ...}``.
- Every object carries ``"@odata.type": "#microsoft.graph.<type>"``, which the
  service needs on the abstract types (mediaConfig, prompt, meetingInfo, callOptions)
  and accepts elsewhere.
- Fields that are None are left out. Tuples become lists and enum members their wire
  strings. A string kept in an enum field is written back unchanged.
- ``additional_data`` is merged into the object. A model field wins over an entry
  with the same name, and an ``@odata.type`` entry replaces the written type.

Reading (``from_wire``):

- For a class with subclasses (the abstract mediaConfig, prompt, meetingInfo,
  callOptions, commsOperation and media quality types), ``@odata.type`` picks the
  subclass, compared without regard to case. A type this version does not model
  gives an instance of the requested class with every unknown field, ``@odata.type``
  included, in ``additional_data``.
- Without ``@odata.type`` the subtype is inferred from the fields present (see
  ``_INFERENCE_KEYS``), else the base class is used.
- Unknown fields go to ``additional_data``. So does an ``@odata.type`` that names
  another type than the model's own (such as ``communicationsIdentitySet``).
- Enum values are matched without regard to case, and an unknown value stays the raw
  string. Integers may arrive as numeric strings (resultInfo sends ``"200"``).
  ResultInfo also reads ``subCode`` as ``subcode``.
- ``null`` reads as None in any optional field. A value of the wrong JSON type, or a
  missing required field, raises ``ResponseParseError`` with the path of the value,
  such as ``value[0].resourceData``.

The models share the values of the input dict (``additional_data``, raw notification
data) instead of copying them, so mutating the input afterwards changes the model.

Memory. A bot tracks thousands of calls, and every call resource repeats the bot's own
identity, its callback URI and its tenant. Equal instances of the identity and media
configuration models, and equal values of a few string fields (``_SHARED_FIELDS``),
are therefore kept once in a bounded table and reused: the models are frozen, so
sharing an instance is not observable unless a caller mutates a decoded input (see
the note above). ``@odata.context`` describes the response, not the resource, and is
dropped instead of kept in ``additional_data``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs

from calls_async._errors import ResponseParseError
from calls_async.models._base import GraphModel
from calls_async.models._call import (
    CallProperties,
    JoinMeetingIdMeetingInfo,
    MeetingInfo,
    OrganizerMeetingInfo,
    TokenMeetingInfo,
)
from calls_async.models._identity import (
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    ParticipantInfo,
)
from calls_async.models._media import (
    AppHostedMediaConfig,
    MediaConfig,
    MediaPrompt,
    Prompt,
    ServiceHostedMediaConfig,
)
from calls_async.models._operations import (
    CommsOperation,
    InviteParticipantsOperation,
    RecordOperation,
    ResultInfo,
    SendDtmfTonesOperation,
)

if TYPE_CHECKING:
    import cattrs

__all__ = ["from_wire", "to_wire"]

ModelT = TypeVar("ModelT", bound=GraphModel)
StructureHook = Callable[[Any, Any], Any]
UnstructureHook = Callable[[Any], Any]

_ODATA_TYPE = "@odata.type"

# When "@odata.type" is missing, the first subtype whose wire key is present is read,
# or the base class when none is. Operations are usually typed, but a record
# operation without a type still exposes its recording fields this way.
_INFERENCE_KEYS: dict[type[GraphModel], tuple[tuple[str, type[GraphModel]], ...]] = {
    MediaConfig: (
        ("blob", AppHostedMediaConfig),
        ("preFetchMedia", ServiceHostedMediaConfig),
    ),
    Prompt: (("mediaInfo", MediaPrompt),),
    MeetingInfo: (
        ("organizer", OrganizerMeetingInfo),
        ("token", TokenMeetingInfo),
        ("joinMeetingId", JoinMeetingIdMeetingInfo),
    ),
    CommsOperation: (
        ("recordingLocation", RecordOperation),
        ("recordingAccessToken", RecordOperation),
        ("participants", InviteParticipantsOperation),
        ("completionReason", SendDtmfTonesOperation),
    ),
    # calls_async.models._quality adds the entry of the media quality types when it
    # is imported, so that importing the converter does not import that module.
}

# Classes whose equal instances are read as one shared instance, and string fields
# whose equal values are read as one string (see "Memory" above).
_SHARED_CLASSES: frozenset[type[GraphModel]] = frozenset(
    {
        Identity,
        IdentitySet,
        InvitationParticipantInfo,
        ParticipantInfo,
        ServiceHostedMediaConfig,
    }
)
_SHARED_FIELDS: dict[type[GraphModel], frozenset[str]] = {
    CallProperties: frozenset({"callback_uri", "tenant_id"}),
}
# Entries of the shared table; when it fills up it starts again empty.
_SHARED_LIMIT = 1024
_ODATA_CONTEXT = "@odata.context"

# Older spellings of a field, read when the canonical key is absent.
_ALIASES: dict[type[GraphModel], dict[str, str]] = {ResultInfo: {"subCode": "subcode"}}

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}")


class _WireError(Exception):
    """A wire value that cannot be read, with its path below the hook that raised."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _wire_name(field: attrs.Attribute[Any]) -> str:
    explicit = field.metadata.get("wire_name")
    if explicit is not None:
        return str(explicit)
    head, *rest = field.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_wire_names_by_class: dict[type, dict[str, str]] = {}


def _wire_names(cls: type) -> dict[str, str]:
    names = _wire_names_by_class.get(cls)
    if names is None:
        names = {field.name: _wire_name(field) for field in attrs.fields(cls)}
        _wire_names_by_class[cls] = names
    return names


# Primitive hooks. cattrs would call str(), int() or bool() on anything, which turns
# an object into its repr and "false" into True, so these check the JSON type.


def _structure_str(value: Any, _type: Any) -> str:
    if isinstance(value, str):
        return value
    raise _WireError(f"expected a string, got {_json_kind(value)}")


def _structure_bool(value: Any, _type: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _WireError(f"expected a boolean, got {_json_kind(value)}")


def _structure_int(value: Any, _type: Any) -> int:
    if value.__class__ is int:
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _WireError(f"expected an integer, got {_json_kind(value)}")


def _structure_float(value: Any, _type: Any) -> float:
    if isinstance(value, float):
        return value
    if value.__class__ is int:
        return float(value)
    if isinstance(value, str):
        # Graph may send "NaN", "INF" and "-INF" as strings for Edm.Double.
        try:
            return float(value)
        except ValueError:
            pass
    raise _WireError(f"expected a number, got {_json_kind(value)}")


_shared: dict[Any, Any] = {}


def _structure_optional_str(value: Any, _type: Any) -> str | None:
    if value is None or value.__class__ is str:
        return value
    return _structure_str(value, str)


def _structure_optional_int(value: Any, _type: Any) -> int | None:
    if value is None or value.__class__ is int:
        return value
    return _structure_int(value, int)


# The hooks of ``str | None`` and ``int | None`` in one call instead of two, since
# most fields of most models have these types.
_OPTIONAL_PRIMITIVE_HOOKS: dict[Any, StructureHook] = {
    str: _structure_optional_str,
    int: _structure_optional_int,
}


def _share(value: Any) -> Any:
    """Return the shared value equal to ``value``, storing ``value`` when none is."""
    existing = _shared.get(value)
    if existing is not None:
        return existing
    if len(_shared) >= _SHARED_LIMIT:
        _shared.clear()
    _shared[value] = value
    return value


def _structure_shared_str(value: Any, _type: Any) -> str:
    if isinstance(value, str):
        shared: str = _share(value)
        return shared
    raise _WireError(f"expected a string, got {_json_kind(value)}")


def _structure_raw_json(value: Any, _type: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise _WireError(
                    f"expected an object, got {_json_kind(item)}", f"[{index}]"
                )
        return value
    raise _WireError(f"expected an object or an array, got {_json_kind(value)}")


def _unstructure_enum_or_str(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    return value


# Locating a failure. cattrs reports a failed field as a ClassValidationError whose
# inner exception carries an AttributeValidationNote naming the field. The walk below
# follows the first failure down and turns field names into wire names.


def _locate(error: BaseException) -> tuple[str, str]:
    """Return the wire path below ``error``'s hook and what went wrong there."""
    from cattrs.errors import (
        AttributeValidationNote,
        ClassValidationError,
        IterableValidationError,
        IterableValidationNote,
    )

    path: list[str] = []
    while True:
        if isinstance(error, ClassValidationError):
            inner = error.exceptions[0]
            for note in getattr(inner, "__notes__", ()):
                if isinstance(note, AttributeValidationNote):
                    path.append("." + _wire_names(error.cl).get(note.name, note.name))
                    break
            error = inner
        elif isinstance(error, IterableValidationError):
            inner = error.exceptions[0]
            for note in getattr(inner, "__notes__", ()):
                if isinstance(note, IterableValidationNote):
                    path.append(f"[{note.index}]")
                    break
            error = inner
        elif isinstance(error, _WireError):
            path.append(error.path)
            return "".join(path), error.message
        elif isinstance(error, KeyError):
            return "".join(path), "missing required field"
        else:
            # The exception text may quote the value, so only its type is shown.
            return "".join(path), f"invalid value ({type(error).__name__})"


def _error_below(prefix: str, error: Exception) -> _WireError:
    path, message = _locate(error)
    return _WireError(message, prefix + path)


# Hook factories, called by cattrs once per type.


def _is_model_class(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, GraphModel)


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = typing.get_args(type_)
    return typing.get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_union(type_: Any) -> bool:
    return isinstance(type_, types.UnionType) or typing.get_origin(type_) is (
        typing.Union
    )


def _enum_of_union(members: Sequence[Any]) -> type[Enum] | None:
    """Return E when ``members`` are exactly E and str."""
    if len(members) != 2 or str not in members:
        return None
    other = members[0] if members[1] is str else members[1]
    if isinstance(other, type) and issubclass(other, Enum):
        return other
    return None


def _structure_tuple_factory(type_: Any) -> StructureHook:
    element_type = typing.get_args(type_)[0]
    element_hook = _get_converter().get_structure_hook(element_type)

    def structure_tuple(value: Any, _type: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _WireError(f"expected an array, got {_json_kind(value)}")
        try:
            return tuple([element_hook(item, element_type) for item in value])
        except Exception:
            pass
        # Slow path, only on failure: find the failing element to report its index.
        for index, item in enumerate(value):
            try:
                element_hook(item, element_type)
            except Exception as error:
                raise _error_below(f"[{index}]", error) from error
        raise AssertionError("unreachable: no element failed on the second pass")

    return structure_tuple


def _unstructure_tuple_factory(type_: Any) -> UnstructureHook:
    from cattrs.fns import identity

    element_hook = _get_converter().get_unstructure_hook(typing.get_args(type_)[0])
    if element_hook is identity:
        return _list_or_none

    def unstructure_tuple(value: Any) -> Any:
        if value is None:
            return None
        return [element_hook(item) for item in value]

    return unstructure_tuple


def _list_or_none(value: Any) -> Any:
    return None if value is None else list(value)


def _structure_union_factory(type_: Any) -> StructureHook:
    members = [arg for arg in typing.get_args(type_) if arg is not types.NoneType]
    nullable = len(members) != len(typing.get_args(type_))
    enum_type = _enum_of_union(members)
    if enum_type is not None:
        return _enum_or_str_hook(enum_type, nullable)
    if len(members) == 1 and nullable:
        inner_type = members[0]
        optional_hook = _OPTIONAL_PRIMITIVE_HOOKS.get(inner_type)
        if optional_hook is not None:
            return optional_hook
        inner_hook = _get_converter().get_structure_hook(inner_type)

        def structure_optional(value: Any, _type: Any) -> Any:
            if value is None:
                return None
            return inner_hook(value, inner_type)

        return structure_optional
    raise TypeError(f"no wire conversion for the union {type_!r}")


def _enum_or_str_hook(enum_type: type[Enum], nullable: bool) -> StructureHook:
    exact = {member.value: member for member in enum_type}
    folded = {str(member.value).lower(): member for member in enum_type}

    def structure_enum_or_str(value: Any, _type: Any) -> Any:
        if isinstance(value, str):
            member = exact.get(value)
            if member is None:
                return folded.get(value.lower(), value)
            return member
        if value is None and nullable:
            return None
        raise _WireError(f"expected a string, got {_json_kind(value)}")

    return structure_enum_or_str


def _unstructure_union_factory(type_: Any) -> UnstructureHook:
    members = [arg for arg in typing.get_args(type_) if arg is not types.NoneType]
    if _enum_of_union(members) is not None:
        return _unstructure_enum_or_str
    if len(members) == 1:
        # Every hook returned here passes None through.
        return _get_converter().get_unstructure_hook(members[0])
    raise TypeError(f"no wire conversion for the union {type_!r}")


def _structure_model_factory(cls: type[GraphModel]) -> StructureHook:
    if _descendants(cls):
        return _dispatching_hook(cls)
    return _concrete_structure_hook(cls)


def _unstructure_model_factory(_cls: type[GraphModel]) -> UnstructureHook:
    # A field typed with a base class may hold any subtype, so the hook looks up the
    # runtime class of each value.
    return _unstructure_model


_concrete_structure_hooks: dict[type, StructureHook] = {}


def _concrete_structure_hook(cls: type[GraphModel]) -> StructureHook:
    """Return the hook that reads exactly ``cls``, building it on first use."""
    hook = _concrete_structure_hooks.get(cls)
    if hook is None:
        hook = _build_structure_hook(cls)
        _concrete_structure_hooks[cls] = hook
    return hook


def _build_structure_hook(cls: type[GraphModel]) -> StructureHook:
    from cattrs.gen import make_dict_structure_fn, override

    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {}
    known_keys = {_ODATA_TYPE, _ODATA_CONTEXT}
    shared_fields = _SHARED_FIELDS.get(cls, frozenset())
    for field in attrs.fields(cls):
        if field.name == "additional_data":
            overrides[field.name] = override(omit=True)
            continue
        wire = _wire_name(field)
        known_keys.add(wire)
        if field.metadata.get("raw_json"):
            overrides[field.name] = override(
                rename=wire, struct_hook=_structure_raw_json
            )
        elif field.name in shared_fields:
            overrides[field.name] = override(
                rename=wire, struct_hook=_structure_shared_str
            )
        else:
            overrides[field.name] = override(rename=wire)
    generated = make_dict_structure_fn(
        cls, _get_converter(), _cattrs_detailed_validation=True, **overrides
    )
    own_type = cls.odata_type
    own_type_folded = own_type.lower()
    aliases = _ALIASES.get(cls)
    shared = cls in _SHARED_CLASSES

    def structure_model(data: Any, _type: Any) -> Any:
        if not isinstance(data, dict):
            raise _WireError(f"expected an object, got {_json_kind(data)}")
        if aliases is not None:
            data = _apply_aliases(data, aliases)
        instance = generated(data, cls)
        extra = None
        if not data.keys() <= known_keys:
            extra = {key: value for key, value in data.items() if key not in known_keys}
        odata_type = data.get(_ODATA_TYPE)
        if odata_type is not None and odata_type != own_type:
            if not isinstance(odata_type, str):
                kind = _json_kind(odata_type)
                raise _WireError(f"expected a string, got {kind}", "." + _ODATA_TYPE)
            if odata_type.lower() != own_type_folded:
                extra = extra or {}
                extra[_ODATA_TYPE] = odata_type
        if extra:
            # The instance is new and not yet shared, so setting the frozen field here
            # is safe. It saves copying the input into a second dict for __init__.
            object.__setattr__(instance, "additional_data", extra)
        elif shared:
            # additional_data may hold unhashable JSON, so only plain instances are
            # shared.
            instance = _share(instance)
        return instance

    return structure_model


def _apply_aliases(data: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    for alias, canonical in aliases.items():
        if alias in data and canonical not in data:
            data = {canonical if key == alias else key: v for key, v in data.items()}
    return data


def _descendants(cls: type[GraphModel]) -> list[type[GraphModel]]:
    found: list[type[GraphModel]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_descendants(sub))
    return found


def _dispatching_hook(base: type[GraphModel]) -> StructureHook:
    subtypes = {sub.odata_type.lower(): sub for sub in _descendants(base)}
    subtypes[base.odata_type.lower()] = base
    inference = _INFERENCE_KEYS.get(base, ())

    def structure_polymorphic(data: Any, _type: Any) -> Any:
        if not isinstance(data, dict):
            raise _WireError(f"expected an object, got {_json_kind(data)}")
        odata_type = data.get(_ODATA_TYPE)
        if odata_type is None:
            cls = base
            for key, subtype in inference:
                if key in data:
                    cls = subtype
                    break
        elif isinstance(odata_type, str):
            cls = subtypes.get(odata_type.lower(), base)
        else:
            raise _WireError(
                f"expected a string, got {_json_kind(odata_type)}", "." + _ODATA_TYPE
            )
        return _concrete_structure_hook(cls)(data, cls)

    return structure_polymorphic


_unstructure_hooks: dict[type, UnstructureHook] = {}


def _unstructure_model(obj: Any) -> Any:
    if obj is None:
        return None
    hook = _unstructure_hooks.get(obj.__class__)
    if hook is None:
        hook = _build_unstructure_hook(obj.__class__)
        _unstructure_hooks[obj.__class__] = hook
    return hook(obj)


def _build_unstructure_hook(cls: type[GraphModel]) -> UnstructureHook:
    from cattrs.fns import identity
    from cattrs.gen import make_dict_unstructure_fn, override

    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name == "additional_data":
            overrides[field.name] = override(omit=True)
        elif field.metadata.get("raw_json"):
            overrides[field.name] = override(
                rename=_wire_name(field), unstruct_hook=identity
            )
        else:
            overrides[field.name] = override(rename=_wire_name(field))
    generated = make_dict_unstructure_fn(
        cls, _get_converter(), _cattrs_omit_if_default=True, **overrides
    )
    type_name = cls.odata_type

    def unstructure_model(obj: Any) -> dict[str, Any]:
        fields = generated(obj)
        wire = {_ODATA_TYPE: type_name}
        extra = obj.additional_data
        if extra:
            wire.update(extra)
        wire.update(fields)
        return wire

    return unstructure_model


def _make_converter() -> cattrs.Converter:
    import cattrs

    new_converter = cattrs.Converter(detailed_validation=True)
    new_converter.register_structure_hook(str, _structure_str)
    new_converter.register_structure_hook(bool, _structure_bool)
    new_converter.register_structure_hook(int, _structure_int)
    new_converter.register_structure_hook(float, _structure_float)
    new_converter.register_structure_hook_factory(
        _is_homogeneous_tuple, _structure_tuple_factory
    )
    new_converter.register_structure_hook_factory(_is_union, _structure_union_factory)
    new_converter.register_structure_hook_factory(
        _is_model_class, _structure_model_factory
    )
    new_converter.register_unstructure_hook_factory(
        _is_homogeneous_tuple, _unstructure_tuple_factory
    )
    new_converter.register_unstructure_hook_factory(
        _is_union, _unstructure_union_factory
    )
    new_converter.register_unstructure_hook_factory(
        _is_model_class, _unstructure_model_factory
    )
    return new_converter


# Built on first use, so importing the models does not import cattrs.
_converter: cattrs.Converter | None = None


def _get_converter() -> cattrs.Converter:
    global _converter
    if _converter is None:
        _converter = _make_converter()
    return _converter


_structure_hooks: dict[type, StructureHook] = {}


def from_wire(cls: type[ModelT], data: Any) -> ModelT:
    """Read decoded JSON into an instance of ``cls`` (or of its subtype).

    Raises:
        ResponseParseError: ``data`` does not fit ``cls``. The error's ``path`` is
            the location of the bad value, such as ``targets[0].identity``.
    """
    hook = _structure_hooks.get(cls)
    if hook is None:
        if not _is_model_class(cls):
            raise TypeError(f"from_wire expects a model class, got {cls!r}")
        hook = _get_converter().get_structure_hook(cls)
        _structure_hooks[cls] = hook
    try:
        result: ModelT = hook(data, cls)
    except Exception as error:
        path, message = _locate(error)
        raise ResponseParseError(
            f"invalid {cls.__name__}: {message}", path=path.lstrip(".")
        ) from error
    return result


@overload
def to_wire(obj: GraphModel) -> dict[str, Any]: ...


@overload
def to_wire(obj: Sequence[GraphModel]) -> list[dict[str, Any]]: ...


def to_wire(obj: GraphModel | Sequence[GraphModel]) -> Any:
    """Turn a model, or a list or tuple of models, into JSON-ready dicts."""
    if isinstance(obj, GraphModel):
        return _unstructure_model(obj)
    if isinstance(obj, list | tuple):
        return [_unstructure_model(item) for item in obj]
    raise TypeError(
        f"to_wire expects a model or a list of models, got {type(obj).__name__}"
    )
