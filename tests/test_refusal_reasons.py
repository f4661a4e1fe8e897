"""One table of refusal reasons: what the server emits, what docs/protocol.md
documents and what the clients translate are the same set."""

from __future__ import annotations

import re

import pytest

from opsmon.core.i18n import CATALOG, translate_refusal
from opsmon.core.protocol import Result
from tests.helpers import ROOT


def documented() -> dict[str, str]:
    """reason -> its params column, from docs/protocol.md's "Refusal reasons" table."""
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text.split("### Refusal reasons", 1)[1].split("\n### ", 1)[0]
    return {m[1]: m[2] for m in re.finditer(r"^\| `(\w+)` \| `\w+` \| ([^|]*) \|", section, re.M)}


def emitted() -> set[str]:
    """Every reason the server's code can give (a literal `reason="x"`, or `_unknown("x", ...)`)."""
    found: set[str] = set()
    for path in [*(ROOT / "opsmon" / "core").rglob("*.py"), *(ROOT / "server").rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'reason="(\w+)"', source))
        found |= {f"unknown_{what}" for what in re.findall(r'_unknown\("(\w+)"', source)}
    return found


def test_every_reason_the_server_gives_is_documented_and_translated() -> None:
    docs = documented()
    assert len(docs) >= 17
    assert emitted() <= set(docs), emitted() - set(docs)
    for reason in docs:
        entry = CATALOG.get(f"reason.{reason}")
        assert entry is not None, reason
        assert entry["id"] != entry["en"], reason


SAMPLES: dict[str, dict[str, object]] = {
    "not_found": {"incident": 7},
    "unknown_regency": {"regency": "6399"},
    "unknown_category": {"category": "kebakaran"},
    "unknown_stage": {"stage": "rekap_desa"},
    "unknown_severity": {"severity": "urgent"},
    "scope": {"regency": "6303", "regencies": ["6371", "6372"]},
    "read_only": {"role": "viewer"},
    "blank": {"field": "incident.title"},
    "too_long": {"field": "text", "max": 4000},
    "control_character": {"field": "incident.location", "characters": ["U+001B", "U+202E"]},
    "done_exceeds_total": {"done": 6, "total": 5, "regency": "6371", "stage": "rekap_ppk"},
    "note_required": {"command": "resolve"},
    "already": {"status": "acknowledged", "by": {"name": "Rahmat", "agency": "Bawaslu"}, "at": "2024-02-14T13:03:00.000Z"},
    "not_resolved": {"status": "open"},
    "rate_limited": {"rate": 50.0, "role": "officer"},
    "unavailable": {"problem": "could not save (OperationalError)"},
    "bad_field": {"field": "done", "problem": "Expected `int`, got `str`"},
    # triage
    "not_snoozed": {"incident": 7},
    "not_acknowledged": {"status": "open"},
    "unchanged": {"field": "severity", "value": "critical"},
    "unknown_agency": {"agency": "TNI"},
    "unknown_desk": {"desk": "TNI"},
    "same_incident": {"incident": 7},
    "into_resolved": {"into": 12},
    "notes_full": {"incident": 7, "max": 500},
    "page_it": {"incidents": 50000, "most": 2000, "limit": 500},
    # progress
    "count_lower": {"regency": "6301", "stage": "penghitungan", "done": 541, "current": 977},
    "stage_blocked": {"regency": "6301", "stage": "penghitungan", "note": "Listrik padam"},
    # the trainer's controls
    "admin_only": {"role": "officer"},
    "not_exercise": {},
    "exercise_state": {"action": "resume", "state": "running"},
    "exercise_ended": {},
    # an `unauthorized` error's reason
    "token_refused": {},
    "token_revoked": {"at": "2024-02-14T15:10:00.000Z"},
    "token_expired": {"at": "2024-02-14T22:00:00.000Z"},
    "inject_admin_only": {"role": "officer"},
    "inject_not_exercise": {},
    # the IT officer's test notification
    "notify_admin_only": {"role": "officer"},
    "unknown_person": {"person": "AKBP Siapa"},
    "no_channels": {"person": "Dewi Lestari"},
}


@pytest.mark.parametrize("reason", sorted(SAMPLES))
def test_each_reason_reads_in_both_languages_with_its_params(reason: str) -> None:
    assert set(SAMPLES) == set(documented())
    result = Result(id="c", ok=False, code="invalid", message="ENGLISH FALLBACK", reason=reason, params=SAMPLES[reason])
    id_text, en_text = translate_refusal(result, "id"), translate_refusal(result, "en")
    for text in (id_text, en_text):
        assert "ENGLISH FALLBACK" not in text and "{" not in text, text
    for value in SAMPLES[reason].values():
        if (
            isinstance(value, str | int)
            and not isinstance(value, bool)
            and reason
            not in (
                "blank",
                "too_long",
                "control_character",
                "already",
                "note_required",
                "not_resolved",
                "not_acknowledged",
                "unchanged",
                "token_revoked",
                "token_expired",
                "exercise_state",
            )
        ):
            assert str(value) in id_text and str(value) in en_text, (value, id_text)
    assert id_text != en_text


def test_a_known_refusal_in_indonesian_and_the_fallbacks() -> None:
    already = Result(id="c", ok=False, code="conflict", message="x", reason="already", params=SAMPLES["already"])
    assert translate_refusal(already, "id") == "sudah di-ack oleh Bawaslu/Rahmat 21:03 WITA"
    assert translate_refusal(already, "en") == "already acknowledged by Bawaslu/Rahmat 21:03 WITA"
    # An unknown reason, or params that do not fit, fall back to the server's text, made safe to draw.
    newer = Result(id="c", ok=False, code="invalid", message="triage needs \x1b[31mcolour", reason="from_the_future", params={})
    assert translate_refusal(newer, "id") == "triage needs \N{REPLACEMENT CHARACTER}[31mcolour"
    broken = Result(id="c", ok=False, code="forbidden", message="your token may act only on 6371", reason="scope", params={"regency": "6303"})
    assert translate_refusal(broken, "id") == "your token may act only on 6371"
    # Hostile params are drawn harmlessly too.
    hostile = Result(id="c", ok=False, code="invalid", message="x", reason="unknown_regency", params={"regency": "63\x1b]0;x\x0771"})
    assert "\x1b" not in translate_refusal(hostile, "en") and "\x07" not in translate_refusal(hostile, "en")
