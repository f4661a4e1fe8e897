"""Frames in and out: encode, decode a client's or the server's frame into its
typed message (a wrong field is refused with a message that names it), an
event's payload by kind, and the event digest.

No I/O here, and no textual: this module is shared with the server.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, Union

import msgspec

from opsmon.core.events import PAYLOAD_TYPES, KnownPayload, OtherData, Payload
from opsmon.core.protocol import Batch, ClientMessage, Error, Event, Result, ServerMessage, Snapshot, Status, Welcome
from opsmon.core.records import Actor
from opsmon.core.text import describe, describe_named, forbidden_characters

# --- encoding --------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_raw_decoder = msgspec.json.Decoder()

# Decoding: an event's `data` is first kept raw, then decoded by its `kind`.
_payload_decoders: dict[str, msgspec.json.Decoder[Any]] = {kind: msgspec.json.Decoder(cls) for kind, cls in PAYLOAD_TYPES.items()}
_other_decoder = msgspec.json.Decoder(OtherData)


class _WireEvent(msgspec.Struct, tag="event", tag_field="type"):
    seq: int
    ts: str
    kind: str
    actor: Actor
    data: msgspec.Raw


class _WireBatch(msgspec.Struct, tag="batch", tag_field="type"):
    events: list[_WireEvent]


# `Result` as it arrives: its history `events` with their data still raw.
_WireResult: Any = msgspec.defstruct(
    "_WireResult",
    [(f.name, list[_WireEvent] | None if f.name == "events" else f.type, f.default) for f in msgspec.structs.fields(Result)],
    tag="result",
    tag_field="type",
    omit_defaults=True,
)
_server_decoder = msgspec.json.Decoder(Welcome | Snapshot | _WireEvent | _WireBatch | _WireResult | Error | Status)

# The fast way for a batch (most events arrive in one): its events as a union
# tagged by `kind`, one struct per known kind, decoded in one pass. A batch
# holding a kind not known here fails it and is decoded the general way.
_KindedEvents: Any = Union[  # noqa: UP007 - a union built from a tuple of types
    tuple(
        msgspec.defstruct(f"_Wire{cls.__name__}", [("seq", int), ("ts", str), ("actor", Actor), ("data", cls)], tag=kind, tag_field="kind")
        for kind, cls in PAYLOAD_TYPES.items()
    )
]
_batch_decoder = msgspec.json.Decoder(msgspec.defstruct("_KindedBatch", [("events", list[_KindedEvents])], tag="batch", tag_field="type"))
_BATCH_TEXT_PREFIX = '{"type":"batch"'
_BATCH_PREFIX = _BATCH_TEXT_PREFIX.encode()
_result_decoder = msgspec.json.Decoder(_WireResult)
# A client's frame into its typed message: a decoder built once (msgspec.convert of the
# peeked dict to the union rebuilds its type each call: about 16 us a frame, against 0.4).
_client_decoder = msgspec.json.Decoder(ClientMessage)


def decode_payload(kind: str, data: bytes | str | msgspec.Raw) -> Payload:
    """An event's data (JSON) as its kind's payload type; a dict for a kind not known here.
    Raises msgspec.ValidationError / DecodeError when it does not fit."""
    decoder = _payload_decoders.get(kind)
    if decoder is None:
        other: OtherData = _other_decoder.decode(data)
        return other
    payload: KnownPayload = decoder.decode(data)
    return payload


def convert_payload(kind: str, data: Any) -> Payload:
    """An event's data as plain values (a dict) as its kind's payload type."""
    known = PAYLOAD_TYPES.get(kind)
    if known is None:
        other: OtherData = msgspec.convert(data, OtherData)
        return other
    payload: KnownPayload = msgspec.convert(data, known)
    return payload


class _PlainEvent(msgspec.Struct):
    seq: int
    ts: str
    kind: str
    actor: Actor
    data: OtherData


def convert_event(value: Any) -> Event:
    """An event as plain values (a decoded frame, a JSONL row's fields) as an Event."""
    plain = msgspec.convert(value, _PlainEvent)
    return Event(seq=plain.seq, ts=plain.ts, kind=plain.kind, actor=plain.actor, data=convert_payload(plain.kind, plain.data))


def _lift(wire: _WireEvent, where: str = "$") -> Event:
    """The event with its data decoded by kind; an error names the field in the frame."""
    try:
        data = decode_payload(wire.kind, wire.data)
    except msgspec.ValidationError as exc:
        problem, _, at = str(exc).partition(" - at `$")
        raise msgspec.ValidationError(f"{problem} - at `{where}.data{at or '`'}") from None
    return Event(seq=wire.seq, ts=wire.ts, kind=wire.kind, actor=wire.actor, data=data)


def _lift_result(wire: Any) -> Result:
    fields = {name: getattr(wire, name) for name in Result.__struct_fields__}
    if wire.events is not None:
        fields["events"] = [_lift(e, f"$.events[{n}]") for n, e in enumerate(wire.events)]
    return Result(**fields)


class BadMessage(ValueError):
    """A frame that is not a valid message; carries the command id if it had one,
    and the refusal's `reason` and `params` (see docs/protocol.md)."""

    def __init__(self, message: str, command_id: str | None = None, *, reason: str = "bad_field", params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.reason = reason
        self.params = params if params is not None else {"field": None, "problem": message}


# Fields that may hold several lines (newline and tab allowed). Every other
# string field of a message, now or added later, is one line.
MULTILINE_FIELDS = frozenset({"detail", "text", "note"})


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string inside a message, with its field path (`incident.title`)."""
    if isinstance(value, str):
        return [(path, value)]
    found: list[tuple[str, str]] = []
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            found += _strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for item in value:
            found += _strings(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _strings(item, f"{path}.{key}" if path else str(key))
    return found


def check_text(message: msgspec.Struct, command_id: str | None = None) -> None:
    """Refuse control characters, DEL and bidi controls in any field of a message
    (`detail`, `text` and `note` may hold newlines and tabs); raises BadMessage."""
    for path, text in _strings(message, ""):
        found = forbidden_characters(text, multiline=path.rsplit(".", 1)[-1] in MULTILINE_FIELDS)
        if found:
            names = [describe(char) for char in found]
            raise BadMessage(
                f"field `{path}` holds control characters ({', '.join(describe_named(char) for char in found)}); only printable text is allowed",
                command_id,
                reason="control_character",
                params={"field": path, "characters": names},
            )


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


def encode_list(items: Sequence[msgspec.Struct]) -> bytes:
    """A JSON array of messages, as `encode` writes each (a snapshot's incidents, a slice at a time)."""
    return _encoder.encode(items)


_TOO_LONG = re.compile(r"^Expected `(?:str|array)` of length <= (\d+)$")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")


def _describe(exc: msgspec.ValidationError) -> tuple[str, str, dict[str, Any]]:
    """msgspec's error as (message, reason, params), naming the field."""
    text = str(exc)
    # msgspec says "Invalid value 'x' - at `$.type`" for an unknown tag.
    if text.endswith("at `$.type`") and text.startswith("Invalid value"):
        message = f"unknown message type {text.split(' - ')[0].removeprefix('Invalid value ')}"
        return message, "bad_field", {"field": "type", "problem": message}
    problem, _, where = text.partition(" - at `$")
    path = where.removeprefix(".").removesuffix("`") or None
    message = text.replace("`$.", "`")
    if (missing := _MISSING.match(problem)) is not None:
        field = f"{path}.{missing[1]}" if path else missing[1]
        return message, "bad_field", {"field": field, "problem": "missing"}
    if (too_long := _TOO_LONG.match(problem)) is not None:
        return message, "too_long", {"field": path, "max": int(too_long[1])}
    if problem == "Expected `str` of length >= 1":
        return message, "blank", {"field": path}
    return message, "bad_field", {"field": path, "problem": problem}


class Peek(msgspec.Struct, frozen=True):
    """What a frame says of itself before any field is checked: its `type`,
    its usable command `id`, and the parsed JSON. Cheap (one C parse): the
    server checks rate and role on it before the per-string validation."""

    kind: str
    command_id: str | None
    raw: dict[str, Any]
    frame: str | bytes

    @property
    def id(self) -> str | None:
        return self.command_id

    @property
    def regency(self) -> str | None:
        """The regency code, if the frame names one that looks like one."""
        value = self.raw.get("regency")
        return value if isinstance(value, str) and len(value) <= 8 and value.isdigit() else None

    @property
    def incident(self) -> int | None:
        """The incident number, if the frame names one as an integer (for a refusal's audit line)."""
        value = self.raw.get("incident")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def peek_client(frame: str | bytes) -> Peek:
    """Parse one client frame as JSON and read its `type` and `id`; raises
    BadMessage if it is not a JSON object with a string `type`. A nesting too
    deep for the parser is `bad_message` too, never a crash."""
    try:
        raw = _raw_decoder.decode(frame)
    except msgspec.DecodeError:
        raise BadMessage("not valid JSON") from None
    except RecursionError:
        raise BadMessage("JSON nested too deeply", params={"field": None, "problem": "nested too deeply"}) from None
    if not isinstance(raw, dict):
        raise BadMessage("a message must be a JSON object")
    given = raw.get("id")
    # An id is echoed in the answer: one with control characters is not echoed.
    command_id = given if isinstance(given, str) and 0 < len(given) <= 64 and not forbidden_characters(given) else None
    if "type" not in raw:
        raise BadMessage("missing field `type`", command_id, params={"field": "type", "problem": "missing"})
    if not isinstance(raw["type"], str):
        raise BadMessage("field `type` must be a string", command_id, params={"field": "type", "problem": "must be a string"})
    return Peek(kind=raw["type"], command_id=command_id, raw=raw, frame=frame)


def decode_peeked(peek: Peek) -> ClientMessage:
    """The peeked frame as its typed message, every field checked; raises BadMessage."""
    try:
        message: ClientMessage = _client_decoder.decode(peek.frame)
    except msgspec.ValidationError as exc:
        text, reason, params = _describe(exc)
        raise BadMessage(text, peek.command_id, reason=reason, params=params) from None
    except msgspec.DecodeError:  # parsed once already by peek_client: not expected
        raise BadMessage("not valid JSON", peek.command_id) from None
    except RecursionError:
        raise BadMessage("JSON nested too deeply", peek.command_id, params={"field": None, "problem": "nested too deeply"}) from None
    if not _printable_ascii(peek.frame):
        check_text(message, peek.command_id)
    return message


def _printable_ascii(frame: str | bytes) -> bool:
    """Every string in this JSON frame is printable ASCII, so no field holds a character
    check_text refuses: a raw control character is not valid JSON (the parse refused it),
    and without a backslash there is no escaped one; DEL is the one left to look for."""
    if isinstance(frame, str):
        return frame.isascii() and "\\" not in frame and "\x7f" not in frame
    return frame.isascii() and b"\\" not in frame and b"\x7f" not in frame


def decode_client(frame: str | bytes) -> ClientMessage:
    """Parse one client frame; raises BadMessage saying what is wrong."""
    return decode_peeked(peek_client(frame))


def decode_server(frame: str | bytes) -> ServerMessage:
    """Parse one server frame (clients); raises BadMessage."""
    if frame.startswith(_BATCH_PREFIX) if isinstance(frame, bytes) else frame.startswith(_BATCH_TEXT_PREFIX):
        try:
            kinded: Any = _batch_decoder.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass  # a kind this version does not know (or a bad frame): the general way says which
        else:
            return Batch(events=[Event(seq=e.seq, ts=e.ts, kind=e.data.KIND, actor=e.actor, data=e.data) for e in kinded.events])
    try:
        message = _server_decoder.decode(frame)
        if isinstance(message, _WireBatch):
            return Batch(events=[_lift(e, f"$.events[{n}]") for n, e in enumerate(message.events)])
        if isinstance(message, _WireEvent):
            return _lift(message)
        if isinstance(message, Welcome | Snapshot | Error | Status):
            return message
        return _lift_result(message)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadMessage(f"bad frame from server: {exc}") from None


def decode_result(frame: bytes) -> Result:
    """A stored result frame (the server's own encoding)."""
    return _lift_result(_result_decoder.decode(frame))


DIGEST_LENGTH = 16


def event_digest(event: Event) -> str:
    """Who this event is, across copies of a history: the first 16 hex digits
    of the SHA-256 of its canonical JSON (seq, ts, kind, actor, data; keys
    sorted, no spaces, UTF-8; see docs/protocol.md)."""
    body = msgspec.to_builtins(event)
    body.pop("type", None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def convert(value: Any, type_: Any) -> Any:
    return msgspec.convert(value, type_)
