"""One verb-to-command factory (opsmon/core/commands.py) for the TUI, the feeders, the importer and the simulator."""

from __future__ import annotations

from typing import get_args

import pytest

from opsmon.core.commands import INCIDENT_VERBS, VERBS, CommandError, WriteCommand, command
from opsmon.core.protocol import WRITE_COMMANDS, Assign, IncidentDraft, Merge, Note, Owner, Report, Snooze, StageUpdate
from opsmon.core.wire import encode
from opsmon.feeds.importer import to_command
from opsmon.training.night import SimCommand
from tests.helpers import province


def test_the_factory_knows_every_command_that_writes() -> None:
    assert set(get_args(WriteCommand)) == set(WRITE_COMMANDS)
    assert set(VERBS) == {str(cls.__struct_config__.tag) for cls in WRITE_COMMANDS}
    assert set(VERBS) - set(INCIDENT_VERBS) == {"report", "stage", "handover", "exercise", "sitrep"}


def test_a_verb_and_its_fields_make_the_wire_command() -> None:
    draft = {"regency": "6371", "category": "logistik", "severity": "high", "title": "Kotak suara rusak"}
    assert command("report", "r1", incident=draft) == Report(id="r1", incident=IncidentDraft(**draft))
    assert command("report", "r1", incident=IncidentDraft(**draft)) == Report(id="r1", incident=IncidentDraft(**draft))
    assert command("stage", "s1", regency="6371", stage="penghitungan", done=3) == StageUpdate(id="s1", regency="6371", stage="penghitungan", done=3)
    assert command("note", "n1", incident=4, text="Saksi hadir") == Note(id="n1", incident=4, text="Saksi hadir")
    assert command("snooze", "z1", incident=4, minutes=30, note="Menunggu perahu") == Snooze(id="z1", incident=4, minutes=30, note="Menunggu perahu")
    assert command("assign", "a1", incident=4, to={"name": "Budi", "agency": "Polri"}) == Assign(id="a1", incident=4, to=Owner(name="Budi", agency="Polri"))
    assert command("assign", "a2", incident=4, to=None) == Assign(id="a2", incident=4, to=None)
    assert command("merge", "m1", incident=4, into=2) == Merge(id="m1", incident=4, into=2, note=None)
    assert encode(command("ack", "k1", incident=9)) == b'{"type":"ack","id":"k1","incident":9}'


@pytest.mark.parametrize(
    ("verb", "fields", "message"),
    [
        ("snooze", {"incident": 4, "minutes": 5000, "note": "nanti"}, "Expected `int` <= 1440 - at `minutes`"),
        ("resolve", {"incident": 4, "note": ""}, "Expected `str` of length >= 1 - at `note`"),
        ("ack", {}, "Object missing required field `incident`"),
        ("ack", {"incident": 0}, "Expected `int` >= 1 - at `incident`"),
        (
            "report",
            {"incident": {"regency": "6371", "category": "x", "severity": "high", "title": "t" * 201}},
            "Expected `str` of length <= 200 - at `incident.title`",
        ),
        (
            "wave",
            {},
            "unknown command 'wave': use report, stage, ack, escalate, note, resolve, reopen, snooze, assign, severity, unack, merge, handover, exercise, sitrep",
        ),
    ],
)
def test_a_bad_field_is_said_in_one_line_naming_it(verb: str, fields: dict[str, object], message: str) -> None:
    with pytest.raises(CommandError) as caught:
        command(verb, "c1", **fields)
    assert str(caught.value) == message


def test_the_importer_and_the_simulator_say_it_the_same_way() -> None:
    config = province()
    with pytest.raises(ValueError, match=r"^Expected `int` <= 1440 - at `minutes`$"):
        to_command({"type": "snooze", "incident": 4, "minutes": 5000, "note": "nanti"}, config, "line-1")
    planned = SimCommand(at=0.0, agency="KPU", kind="resolve", fields=(("note", ""),), ref="r1")
    with pytest.raises(CommandError, match=r"^Expected `str` of length >= 1 - at `note`$"):
        planned.to_command("c1", incident=4)
