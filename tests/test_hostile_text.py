"""Text from the field is hostile: the server refuses terminal control
characters at the protocol edge, naming the field, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsmon.core.i18n import CATALOG, translate_refusal
from opsmon.core.protocol import Result
from opsmon.core.text import INVISIBLE, LINE_SEPARATORS, for_terminal, forbidden_characters, is_control
from opsmon.core.wire import BadMessage, decode_client
from server.auth import AuthError, check_token_fields
from tests.helpers import Running
from tests.wire import Peer, report

# What issue 7 reproduced: sets the terminal title, clears and recolours the screen.
PWNED = "Kotak \x1b]0;PWNED\x07\x1b[2J\x1b[31mRED"


@pytest.mark.parametrize(
    ("type_", "fields", "field", "characters"),
    [
        ("report", report(title=PWNED), "incident.title", ["U+001B", "U+0007"]),
        ("report", report(title="Kotak\rrusak"), "incident.title", ["U+000D"]),
        ("report", report(title="Kotak\trusak"), "incident.title", ["U+0009"]),
        ("report", report(title="Kotak\nrusak"), "incident.title", ["U+000A"]),
        ("report", report(title="Kotak \u202erusak"), "incident.title", ["U+202E"]),
        ("report", report(title="Kotak \u2066rusak"), "incident.title", ["U+2066"]),
        ("report", report(location="TPS 012\x7f"), "incident.location", ["U+007F"]),
        ("report", report(location="TPS\u009b2J"), "incident.location", ["U+009B"]),
        ("report", report(detail="baris satu\nbaris dua\x1b[2J"), "incident.detail", ["U+001B"]),
        ("report", report(detail="kembali\rke awal"), "incident.detail", ["U+000D"]),
        ("report", report(category="logistik\x1b"), "incident.category", ["U+001B"]),
        ("report", report(regency="6371\x00"), "incident.regency", ["U+0000"]),
        ("note", {"incident": 1, "text": "Tim\x1b[31m tiba"}, "text", ["U+001B"]),
        ("resolve", {"incident": 1, "note": "selesai\x08\x08"}, "note", ["U+0008"]),
        ("reopen", {"incident": 1, "note": "\u202dbuka"}, "note", ["U+202D"]),
        ("escalate", {"incident": 1, "note": "Polres\x1bc"}, "note", ["U+001B"]),
        ("stage", {"regency": "6371", "stage": "rekap_ppk", "done": 1, "note": "padam\x1b[2J"}, "note", ["U+001B"]),
        ("stage", {"regency": "6371", "stage": "rekap_ppk\x1b", "done": 1}, "stage", ["U+001B"]),
        ("assign", {"incident": 1, "to": {"name": "Rah\x1b[8mmat", "agency": "Bawaslu"}}, "to.name", ["U+001B"]),
        ("snooze", {"incident": 1, "minutes": 15, "note": "PLN\x1b]0;x\x07"}, "note", ["U+001B", "U+0007"]),
        # issue 22: line/paragraph separators fake lines; invisible characters fake sameness; marks reorder
        ("report", report(title="Kotak rusak\u2028#2 Kritis: palsu"), "incident.title", ["U+2028"]),
        ("report", report(location="TPS 012\u2029TPS 013"), "incident.location", ["U+2029"]),
        ("report", report(location="TPS\u200b012"), "incident.location", ["U+200B"]),
        ("report", report(title="\ufeffKotak rusak"), "incident.title", ["U+FEFF"]),
        ("report", report(title="Kotak \u061crusak"), "incident.title", ["U+061C"]),
        ("assign", {"incident": 1, "to": {"name": "Rah\u200fmat", "agency": "Bawaslu"}}, "to.name", ["U+200F"]),
        ("note", {"incident": 1, "text": "arah \u200ekanan"}, "text", ["U+200E"]),
    ],
)
async def test_hostile_text_is_refused_by_the_server_and_nothing_is_stored(
    server: Running, type_: str, fields: dict[str, Any], field: str, characters: list[str]
) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    assert (await officer.command("report", **report()))["ok"]
    wall = await Peer.open(server, server.tokens["wall"])
    result = await officer.command(type_, **fields)
    assert result["ok"] is False and result["code"] == "invalid", result
    assert f"`{field}`" in result["message"]
    assert (result["reason"], result["params"]) == ("control_character", {"field": field, "characters": characters})
    assert server.server.state.seq == 1 and await server.store.head() == 1
    assert len(await server.store.events_since(0)) == 1
    assert await wall.quiet() == []  # nothing broadcast
    await officer.close()
    await wall.close()


async def test_detail_and_notes_keep_newlines_and_tabs(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    detail = "Kotak 1: segel rusak\nKotak 2:\tbasah"
    assert (await officer.command("report", **report(detail=detail, location="Kec. Banjarmasin Utara, TPS 012")))["ok"]
    assert (await officer.command("note", incident=1, text="Langkah:\n\t1. ganti segel"))["ok"]
    assert (await officer.command("stage", regency="6371", stage="rekap_ppk", done=2, note="PPK 1 selesai\nPPK 2 selesai"))["ok"]
    incident = server.server.state.incidents[1]
    assert incident.detail == detail and incident.notes[0].text == "Langkah:\n\t1. ganti segel"
    # Printable non-ASCII text is not a control character.
    assert (await officer.command("report", **report(title="Kotak suara rusak — TPS 012 «Martapura»")))["ok"]
    await officer.close()


async def test_a_line_separator_in_a_title_is_refused_by_name_and_prose_may_hold_one(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    result = await officer.command("report", **report(title="Kotak rusak\u2028*#2 Kritis · TPS 013*"))
    assert result["ok"] is False and "U+2028 LINE SEPARATOR" in result["message"] and "`incident.title`" in result["message"]
    assert server.server.state.seq == 0
    # multi-line text is prose: a separator or a zero width space pasted into a note is kept;
    # emoji sequences (zero width joiner) are printable in any field
    assert (await officer.command("report", **report(title="Petugas 👩\u200d🚒 tiba", detail="baris\u2028baris\u200bdua")))["ok"]
    assert (await officer.command("note", incident=1, text="satu\u2029dua"))["ok"]
    incident = server.server.state.incidents[1]
    assert incident.title == "Petugas 👩\u200d🚒 tiba" and incident.notes[0].text == "satu\u2029dua"
    await officer.close()


def test_what_is_drawn_never_breaks_a_one_line_field() -> None:
    assert for_terminal("Kotak\u2028#2 palsu") == "Kotak\ufffd#2 palsu"
    assert for_terminal("satu\u2029dua", multiline=True) == "satu\ndua"
    assert for_terminal("arah \u200fkanan\u061c") == "arah \ufffdkanan\ufffd"
    assert forbidden_characters("TPS\u200b012\ufeff") == ["\u200b", "\ufeff"]
    assert forbidden_characters("TPS\u200b012", multiline=True) == []
    assert forbidden_characters("Petugas 👩\u200d🚒") == []


async def test_a_command_id_with_control_characters_is_not_echoed(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.send({"type": "ack", "id": "x\x1b[2J", "incident": 1})
    answer = await officer.until(lambda f: f["type"] in ("error", "result"))
    assert answer["type"] == "error" and answer["code"] == "bad_message" and "`id`" in answer["message"]
    assert "\x1b" not in json.dumps(answer, ensure_ascii=False)
    await officer.close()


async def test_a_hello_with_a_control_character_in_its_client_name_is_refused(server: Running) -> None:
    from websockets.asyncio.client import connect

    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": server.tokens["officer"], "client": "tui\x1b]0;x\x07"}))
        answer = json.loads(await ws.recv())
    assert answer["type"] == "error" and answer["code"] == "unauthorized" and "`client`" in answer["message"]


def test_every_string_field_is_checked_even_ids_and_hello() -> None:
    """Every string of a message is one line unless its field is named multi-line
    (detail, text, note), so a field added later is checked by default."""
    with pytest.raises(BadMessage) as caught:
        decode_client(json.dumps({"type": "history", "id": "h\u202e1", "incident": 1}))
    assert caught.value.command_id is None and caught.value.params["field"] == "id"
    with pytest.raises(BadMessage) as caught:
        decode_client(json.dumps({"type": "hello", "token": "t\x1b"}))
    assert caught.value.reason == "control_character" and caught.value.params["field"] == "token"


@pytest.mark.parametrize("frame", [b'{"type":"note","id":"n1","incident":1,"text":"o\x7fk"}', '{"type":"hello","token":"t\x7f"}'])
def test_a_raw_del_in_an_otherwise_plain_frame_is_refused(frame: str | bytes) -> None:
    """DEL is printable ASCII's one neighbour that JSON lets through unescaped:
    a frame of plain ASCII is still checked for it, as bytes and as text."""
    with pytest.raises(BadMessage) as caught:
        decode_client(frame)
    assert caught.value.reason == "control_character"


@pytest.mark.parametrize("name", ["Rahmat\n", "Rah\x1bmat", "Rahmat\u202e", "Rah\x00"])
def test_token_names_become_actor_names_and_refuse_control_characters(name: str) -> None:
    with pytest.raises(AuthError):
        check_token_fields(name, "officer", "KPU", None, {"6371"})


def test_a_refusal_for_control_characters_reads_in_both_languages() -> None:
    result = Result(
        id="c",
        ok=False,
        code="invalid",
        message="field `incident.title` holds control characters",
        reason="control_character",
        params={"field": "incident.title", "characters": ["U+001B"]},
    )
    assert translate_refusal(result, "id") == "Judul berisi karakter kendali (U+001B); hanya teks biasa yang diterima"
    assert translate_refusal(result, "en") == "Title holds control characters (U+001B); only printable text is allowed"
    assert "reason.control_character" in CATALOG


def test_every_character_is_refused_or_allowed_as_its_definition_says() -> None:
    """The one-scan check refuses exactly what is_control and the one-line sets name,
    over every code point, and names each refused character once, in order of use."""
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    one_line = [c for c in every if is_control(c) or c in LINE_SEPARATORS or c in INVISIBLE]
    assert forbidden_characters(every) == one_line
    assert forbidden_characters(every, multiline=True) == [c for c in every if is_control(c) and c not in "\n\t"]
    assert forbidden_characters("a\x1bb\x1b\u2028c\x07") == ["\x1b", "\u2028", "\x07"]
    assert forbidden_characters("baris satu\nbaris\tdua", multiline=True) == []
