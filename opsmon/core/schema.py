"""The wire protocol as a JSON Schema, generated from opsmon.core.protocol.

    python -m opsmon.core.schema                            # print it
    python -m opsmon.core.schema --write docs/protocol.md   # put it in the docs, between the markers
    python -m opsmon.core.schema --check docs/protocol.md   # exit 1 if the docs are out of date

Every message a client sends (`ClientMessage`) and every frame the server
sends (`ServerMessage`), with each event kind's `data` typed (`Event` is one
schema per kind, discriminated by `kind`, and `OtherEvent` for a kind a
client does not know yet: it must accept and ignore it). Written by msgspec
from the very types both sides decode with, so it cannot drift from the code
without tests/test_schema.py saying so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal, Union

import msgspec

from opsmon.core import protocol
from opsmon.core.events import PAYLOAD_TYPES
from opsmon.core.protocol import ClientMessage, Error, Snapshot, Status, Welcome
from opsmon.core.records import Actor

BEGIN = "<!-- BEGIN GENERATED SCHEMA: python -m opsmon.core.schema --write docs/protocol.md -->"
END = "<!-- END GENERATED SCHEMA -->"
COMMAND = "python -m opsmon.core.schema --write docs/protocol.md"
REF = "#/$defs/{name}"


def _event_type(kind: str, payload: type[msgspec.Struct]) -> Any:
    """`event` frames of one kind: the Event fields, `data` being the kind's payload."""
    frame = msgspec.defstruct(
        f"{payload.__name__}Event",
        [("type", Literal["event"]), ("seq", int), ("ts", str), ("actor", Actor), ("data", payload)],
        tag=kind,
        tag_field="kind",
        module=protocol.__name__,
    )
    frame.__doc__ = f"An event of kind `{kind}`: its `data` is {payload.__name__}."
    return frame


def _types() -> tuple[Any, Any]:
    """The server's frames for the schema: Event (and the events in Batch and
    Result) as a union tagged by `kind`, one member per known kind."""
    kinds = tuple(_event_type(kind, payload) for kind, payload in PAYLOAD_TYPES.items())
    event: Any = Union[kinds]  # noqa: UP007 - built from a tuple of types
    batch = msgspec.defstruct("Batch", [("events", list[event])], tag="batch", tag_field="type", module=protocol.__name__)
    result_fields = [(f.name, list[event] | None if f.name == "events" else f.type, f.default) for f in msgspec.structs.fields(protocol.Result)]
    result = msgspec.defstruct("Result", result_fields, tag="result", tag_field="type", omit_defaults=True, module=protocol.__name__)
    result.__doc__ = protocol.Result.__doc__
    server: Any = Union[Welcome, Snapshot, batch, result, Error, Status]  # noqa: UP007
    return event, server


def schema() -> dict[str, Any]:
    """The whole protocol as one JSON Schema document (draft 2020-12)."""
    event, server = _types()
    (client_schema, event_schema, server_schema), defs = msgspec.json.schema_components([ClientMessage, event, server], ref_template=REF)
    known = sorted(PAYLOAD_TYPES)
    defs["OtherEvent"] = {
        "title": "OtherEvent",
        "description": "An event of a kind this schema does not list (a newer server's): a client must accept it and fold it as nothing.",
        "type": "object",
        "properties": {
            "type": {"enum": ["event"]},
            "seq": {"type": "integer"},
            "ts": {"type": "string"},
            "kind": {"type": "string", "not": {"enum": known}},
            "actor": {"$ref": REF.format(name="Actor")},
            "data": {"type": "object"},
        },
        "required": ["type", "seq", "ts", "kind", "actor", "data"],
    }
    defs["Event"] = {
        "title": "Event",
        "description": "One event: `data` is typed by `kind`.",
        "oneOf": [*event_schema["anyOf"], {"$ref": REF.format(name="OtherEvent")}],
    }
    # The single-event frame is an Event; in Batch and Result the events are too.
    server_schema["anyOf"].insert(2, {"$ref": REF.format(name="Event")})
    server_schema["discriminator"]["mapping"]["event"] = REF.format(name="Event")
    for name in ("Batch", "Result"):
        properties = defs[name]["properties"]
        events = properties["events"]
        if name == "Batch":
            events["items"] = {"$ref": REF.format(name="Event")}
        else:
            events["anyOf"] = [{"type": "array", "items": {"$ref": REF.format(name="Event")}}, {"type": "null"}]
    defs["ClientMessage"] = {"title": "ClientMessage", "description": "Every frame a client sends.", **client_schema}
    defs["ServerMessage"] = {"title": "ServerMessage", "description": "Every frame the server sends.", **server_schema}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"opsmon wire protocol, version {protocol.PROTOCOL_VERSION}",
        "description": "Generated from opsmon/core/protocol.py by `python -m opsmon.core.schema`; do not edit by hand.",
        "oneOf": [{"$ref": REF.format(name="ClientMessage")}, {"$ref": REF.format(name="ServerMessage")}],
        "$defs": dict(sorted(defs.items())),
    }


def dumps(value: Any, indent: str = "") -> str:
    """JSON, indented, but whatever fits in 100 columns (an enum, a `$ref`, a
    `required` list) on one line, so the schema reads in a few pages."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or len(flat) + len(indent) <= 100:
        return flat
    inner = indent + "  "
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + "\n" + indent + "]"
    return "{\n" + ",\n".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps(v, inner)}" for k, v in value.items()) + "\n" + indent + "}"


def section() -> str:
    """What goes between the markers in docs/protocol.md."""
    text = dumps(schema())
    return f"{BEGIN}\n\n```json\n{text}\n```\n\n{END}"


class SchemaError(ValueError):
    """The docs file has no (or broken) markers; str() says what to do."""


def updated(document: str) -> str:
    """The document with its generated section replaced by today's."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise SchemaError(f"no generated-schema markers in the file: it needs a line {BEGIN!r} and, after it, a line {END!r}")
    return document[:start] + section() + document[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opsmon.core.schema", description="The wire protocol as a JSON Schema, from opsmon.core.protocol.")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--write", metavar="FILE", type=Path, help="replace the generated section of FILE (docs/protocol.md)")
    what.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE's generated section is not today's")
    args = parser.parse_args(argv)
    path: Path | None = args.write or args.check
    if path is None:
        print(dumps(schema()))
        return 0
    try:
        document = path.read_text(encoding="utf-8")
        fresh = updated(document)
    except (OSError, SchemaError) as exc:
        print(f"opsmon.core.schema: {path}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if fresh != document:
            print(f"opsmon.core.schema: {path} is out of date with opsmon/core/protocol.py: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if fresh != document:
        path.write_text(fresh, encoding="utf-8")
        print(f"opsmon.core.schema: wrote the schema into {path}")
    else:
        print(f"opsmon.core.schema: {path} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
