"""A verb and its fields make one protocol command: the one place that does it.

The TUI, the single-command feeders (`opsmon report`, `ack`, ... and the
triage commands), the importer and the simulator all build the commands they
send here, so a field added to a command in protocol.py is known to all of
them at once, and a bad field is said the same way everywhere:
`command("ack", "c1", incident=7)` is `Ack(id="c1", incident=7)`, and
`command("snooze", "c2", incident=7, minutes=5000, note="nanti")` raises
CommandError("Expected `int` <= 1440 - at `minutes`").

The fields are checked with the protocol's own types and limits (the same
msgspec check the server makes when it decodes the command); what the config
knows (regencies, stages, severities) is checked by the callers before, with
the config at hand (opsmon/feeds/feeder.py).
"""

from __future__ import annotations

from typing import Any

import msgspec

from opsmon.core.protocol import (
    WRITE_COMMANDS,
    WriteCommand,
)

# The verbs, as the wire names them (the commands' `type`).
VERBS: tuple[str, ...] = tuple(str(cls.__struct_config__.tag) for cls in WRITE_COMMANDS)
# The verbs that act on one incident by its id (all but report and stage).
INCIDENT_VERBS: tuple[str, ...] = tuple(verb for verb in VERBS if verb not in ("report", "stage", "handover", "exercise", "sitrep"))


class CommandError(ValueError):
    """A verb or fields the protocol does not accept; str() says which field and why, in one line."""


def command(verb: str, command_id: str, /, **fields: Any) -> WriteCommand:
    """The protocol command for `verb` (its wire `type`: report, stage, ack, ...) with these fields.

    Fields are the command's own (`incident`, `note`, `minutes`, `to`, ...; a
    report's `incident` is the draft as a dict or an IncidentDraft); a field
    left out takes the protocol's default. CommandError names what is wrong."""
    if verb not in VERBS:
        raise CommandError(f"unknown command {verb!r}: use {', '.join(VERBS)}")
    try:
        return msgspec.convert({**fields, "type": verb, "id": command_id}, WriteCommand, from_attributes=True)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise CommandError(str(exc).replace("`$.", "`")) from None
