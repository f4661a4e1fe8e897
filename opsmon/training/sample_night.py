"""A fixed recapitulation night: for the TUI snapshots, the benches and the README screenshot.

Built with the same pure domain functions the server uses (decide, apply),
at fixed times, so every run shows the same screen. Pure: no screen, no server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsmon.core.clock import format_ts
from opsmon.core.config import Config
from opsmon.core.domain import decide
from opsmon.core.fold import apply
from opsmon.core.protocol import Ack, Event, IncidentDraft, Note, Report, Resolve, StageUpdate, Welcome
from opsmon.core.records import Actor, User
from opsmon.core.state import Rules, State, stage_rows

START = datetime(2024, 2, 14, 12, 40, tzinfo=UTC)  # 20:40 WITA
NOW = datetime(2024, 2, 14, 13, 30, tzinfo=UTC)  # 21:30 WITA

RAHMAT = Actor(name="Rahmat", agency="Bawaslu")
SITI = Actor(name="Siti", agency="KPU")
BUDI = Actor(name="Budi", agency="Polri")

STAGES = [
    # (regency, stage, done) in the order they happened
    *[(code, "logistik", None) for code in ("6301", "6302", "6303", "6304", "6305", "6306", "6307", "6308", "6309", "6310", "6311", "6371", "6372")],
    *[(code, "pemungutan", None) for code in ("6301", "6303", "6304", "6305", "6306", "6307", "6308", "6309", "6311", "6371", "6372")],
    ("6302", "pemungutan", 1020),
    ("6310", "pemungutan", 1093),
    ("6371", "penghitungan", None),
    ("6371", "rekap_ppk", 3),
    ("6372", "penghitungan", None),
    ("6372", "rekap_ppk", 5),
    ("6372", "rekap_kabkota", 1),
    ("6303", "penghitungan", 1512),
    ("6301", "penghitungan", None),
    ("6301", "rekap_ppk", 7),
    ("6304", "penghitungan", 640),
    ("6305", "penghitungan", None),
    ("6305", "rekap_ppk", 2),
    ("6306", "penghitungan", 310),
    ("6307", "penghitungan", None),
    ("6307", "rekap_ppk", 11),
    ("6308", "penghitungan", 402),
    ("6309", "penghitungan", None),
    ("6311", "penghitungan", None),
    ("6311", "rekap_ppk", 1),
]


INCIDENTS = [
    # (minutes after START, reporter, regency, category, severity, title, detail, location)
    (
        2,
        SITI,
        "6371",
        "logistik",
        "high",
        "Kotak suara rusak saat dibawa ke PPK",
        "Segel kotak suara TPS 012 robek; saksi meminta berita acara.",
        "Kec. Banjarmasin Utara, TPS 012",
    ),
    (9, RAHMAT, "6303", "politik_uang", "medium", "Dugaan pembagian uang dekat TPS", "", "Kec. Martapura, TPS 041"),
    (15, BUDI, "6310", "keamanan", "critical", "Kericuhan di lokasi rekap PPK", "Massa dua kubu berkumpul di depan kantor kecamatan.", "Kec. Batulicin"),
    (21, SITI, "6304", "listrik_jaringan", "low", "Listrik padam, penghitungan pakai genset", "", "Kec. Alalak, TPS 007"),
    (27, RAHMAT, "6306", "hak_pilih", "high", "Pemilih DPTb ditolak petugas", "", "Kec. Kandangan, TPS 019"),
    (33, SITI, "6302", "bencana", "critical", "Banjir, kotak suara belum bisa diangkut", "Air setinggi 80 cm di jalan desa.", "Kec. Pulau Laut Sigam"),
    (38, BUDI, "6371", "intimidasi", "medium", "Saksi diintimidasi di TPS", "", "Kec. Banjarmasin Selatan, TPS 003"),
    (44, SITI, "6311", "sirekap", "low", "Sirekap gagal unggah foto C1", "", "Kec. Paringin"),
    (46, RAHMAT, "6372", "lainnya", "low", "Petugas KPPS kelelahan", "", "Kec. Banjarbaru Utara, TPS 021"),
]


def fixed_night(config: Config, *, role: str = "officer") -> tuple[Welcome, State, list[Event]]:
    """The night as a welcome, the folded state, and the events that made it."""
    rules = Rules.from_config(config)
    state = State()
    state.stages = {(r.regency, r.stage): r for r in stage_rows(state, rules.stage_totals, format_ts(START))}  # the welcome shows every row
    events: list[Event] = []

    def run(command: object, actor: Actor, at: datetime) -> None:
        decision = decide(state, command, actor, None, at, rules)  # type: ignore[arg-type]
        events.append(Event.of(len(events) + 1, format_ts(at), actor, decision.payload))
        apply(state, events[-1])

    for n, (regency, stage, done) in enumerate(STAGES):
        total = rules.stage_totals[(regency, stage)]
        run(StageUpdate(id=f"s{n}", regency=regency, stage=stage, done=total if done is None else done), SITI, START - timedelta(hours=1))
    run(StageUpdate(id="blocked", regency="6306", stage="penghitungan", done=310, blocked=True, note="Banjir"), SITI, START)
    for n, (minutes, reporter, regency, category, severity, title, detail, location) in enumerate(INCIDENTS):
        draft = IncidentDraft(regency=regency, category=category, severity=severity, title=title, detail=detail, location=location)
        run(Report(id=f"r{n}", incident=draft), reporter, START + timedelta(minutes=minutes))
    at = START + timedelta(minutes=48)
    run(Ack(id="a1", incident=1), RAHMAT, at)
    run(Note(id="n1", incident=1, text="Berita acara dibuat, kotak disegel ulang."), RAHMAT, at + timedelta(minutes=1))
    run(Ack(id="a2", incident=2), BUDI, at)
    run(Ack(id="a9", incident=9), SITI, at)
    run(Resolve(id="x9", incident=9, note="Petugas diganti cadangan."), SITI, at + timedelta(minutes=1))
    user = User(name={"viewer": "Layar", "officer": "Rahmat"}.get(role, "Admin"), role=role, agency="Bawaslu", regencies=None)
    people = [RAHMAT, SITI, BUDI] if user.may_act() else None  # who the assign picker offers
    welcome = Welcome(protocol=1, epoch="fixed", seq=state.seq, user=user, config=config.info(), people=people)
    return welcome, state, events
