"""Scenarios: a believable election night for the province in config.toml, and a fixed load for benchmarks.

Pure: `generate(config, scenario, seed)` is a seeded random night as a list
of `SimCommand`s, each at a simulated second since the scenario starts.
Same config, scenario and seed: the same list. Tested without sockets.
`opsmon.simulate` plays such a list against a server.

Scenarios (the night is compressed: what takes days in the field happens in
a few simulated hours):

- "rekap": the night after voting. Logistics and voting done, TPS counting
  finishing (each regency's progress in TPS, so proportional to its TPS
  count), then the kecamatan (PPK) recapitulation advancing unevenly, the
  regencies with the most kecamatan and desa (Kotabaru and Banjar in
  Kalimantan Selatan) last, and the regency plenaries of the quick ones.
- "hari-h": voting day. Late logistics to remote TPS, polls closing at 13:00,
  counting into the night; vote buying at dawn, voter-roll trouble while
  polls are open, exhausted KPPS officers and Sirekap trouble at night.

Every command says which desk sends it (`agency`) and whether the field
sends it (`FIELD_KINDS`: reports and stage progress) or an officer at the
post does (ack, note, escalate, resolve): a training run sends only the
field's and leaves the rest to the trainees.

Nothing assumes Kalimantan Selatan: regencies, stages and categories come
from the config. `KECAMATAN` only lends real kecamatan names to the codes it
knows, for flavour; other regencies get "Kecamatan 1", "Kecamatan 2"...
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opsmon.config import Config, Regency
from opsmon.protocol import Ack, Command, Escalate, IncidentDraft, Note, Report, Resolve, StageUpdate

MINUTE = 60.0
HOUR = 3600.0

# What the field sends; everything else is what an officer at the post does.
FIELD_KINDS = ("report", "stage")

# Real kecamatan names, for flavour only (Kalimantan Selatan; Kepmendagri 100.1.1-6117/2022).
KECAMATAN: dict[str, tuple[str, ...]] = {
    "6301": ("Pelaihari", "Takisung", "Jorong", "Kintap", "Batu Ampar", "Panyipatan", "Bati-Bati", "Kurau", "Tambang Ulang", "Bajuin", "Bumi Makmur"),
    "6302": ("Pulau Laut Utara", "Pulau Laut Tengah", "Pulau Sebuku", "Kelumpang Hulu", "Hampang", "Sungai Durian", "Pulau Sembilan", "Pamukan Utara", "Kelumpang Selatan", "Pulau Laut Barat"),
    "6303": ("Martapura", "Martapura Timur", "Astambul", "Karang Intan", "Aranio", "Sungai Tabuk", "Gambut", "Kertak Hanyar", "Pengaron", "Sungai Pinang", "Paramasan", "Simpang Empat", "Mataraman"),
    "6304": ("Marabahan", "Alalak", "Anjir Pasar", "Anjir Muara", "Tamban", "Mekarsari", "Wanaraya", "Rantau Badauh", "Kuripan", "Bakumpai", "Tabukan", "Jejangkit", "Belawang", "Tabunganen"),
    "6305": ("Tapin Utara", "Tapin Selatan", "Tapin Tengah", "Binuang", "Candi Laras Selatan", "Candi Laras Utara", "Bungur", "Lokpaikat", "Piani", "Hatungun", "Salam Babaris", "Bakarangan"),
    "6306": ("Kandangan", "Daha Selatan", "Daha Utara", "Angkinang", "Telaga Langsat", "Padang Batung", "Loksado", "Simpur", "Kalumpang", "Sungai Raya", "Daha Barat"),
    "6307": ("Barabai", "Pandawan", "Batu Benawa", "Haruyan", "Hantakan", "Batang Alai Selatan", "Batang Alai Utara", "Batang Alai Timur", "Labuan Amas Selatan", "Labuan Amas Utara", "Limpasu"),
    "6308": ("Amuntai Tengah", "Amuntai Selatan", "Amuntai Utara", "Babirik", "Sungai Pandan", "Danau Panggang", "Banjang", "Haur Gading", "Sungai Tabukan", "Paminggir"),
    "6309": ("Tanjung", "Murung Pudak", "Kelua", "Haruai", "Upau", "Muara Uya", "Jaro", "Banua Lawas", "Pugaan", "Tanta", "Bintang Ara", "Muara Harus"),
    "6310": ("Batulicin", "Simpang Empat", "Kusan Hilir", "Kusan Hulu", "Sungai Loban", "Satui", "Angsana", "Mantewe", "Karang Bintang", "Kuranji", "Kusan Tengah", "Teluk Kepayang"),
    "6311": ("Paringin", "Paringin Selatan", "Juai", "Halong", "Awayan", "Batumandi", "Lampihong", "Tebing Tinggi"),
    "6371": ("Banjarmasin Utara", "Banjarmasin Selatan", "Banjarmasin Timur", "Banjarmasin Barat", "Banjarmasin Tengah"),
    "6372": ("Landasan Ulin", "Liang Anggang", "Cempaka", "Banjarbaru Utara", "Banjarbaru Selatan"),
}

# Which desk of the joint post handles (and reports) a category.
DESK = {
    "politik_uang": "Bawaslu",
    "netralitas": "Bawaslu",
    "intimidasi": "Polri",
    "keamanan": "Polri",
    "bencana": "Polri",
    "akses": "KPU",
    "logistik": "KPU",
    "hak_pilih": "KPU",
    "listrik_jaringan": "KPU",
    "sirekap": "KPU",
    "kesehatan_petugas": "KPU",
    "lainnya": "KPU",
}


# Who in the field reports for each desk.
REPORTER_UNIT = {"KPU": "PPK", "Bawaslu": "Panwascam", "Polri": "Polsek"}


@dataclass(frozen=True)
class Template:
    category: str
    title: str  # may use {kec}, {tps}, {regency}
    detail: str
    severities: tuple[tuple[str, int], ...]  # (severity, weight)
    resolution: str
    place: str = "tps"  # "tps": Kec. X, TPS 012; "ppk": PPK Kec. X; "kec": Kec. X
    scenarios: tuple[str, ...] = ("rekap", "hari-h")


TEMPLATES: tuple[Template, ...] = (
    Template("politik_uang", "Dugaan pembagian uang kepada pemilih di Kec. {kec}", "Warga melapor ke Panwascam: amplop dibagikan menjelang pencoblosan.", (("high", 3), ("medium", 5)), "Panwascam sudah mengklarifikasi saksi; berkas diteruskan ke Gakkumdu."),
    Template("politik_uang", "Serangan fajar dilaporkan di sekitar TPS {tps}", "Relawan membagikan sembako dan uang pada subuh hari.", (("high", 4), ("medium", 3)), "Barang bukti diamankan, pelapor dan terlapor dimintai keterangan."),
    Template("intimidasi", "Saksi partai diintimidasi di PPK Kec. {kec}", "Saksi diminta meninggalkan ruang rapat pleno oleh orang tak dikenal.", (("critical", 2), ("high", 5)), "Personel Polsek berjaga di lokasi; saksi kembali mengikuti pleno.", "ppk", ("rekap",)),
    Template("keamanan", "Kericuhan di lokasi rekapitulasi PPK Kec. {kec}", "Massa pendukung berkumpul di depan kantor kecamatan, pleno dihentikan sementara.", (("critical", 4), ("high", 3)), "Massa dibubarkan secara persuasif, pleno dilanjutkan dengan pengamanan Polres.", "ppk", ("rekap",)),
    Template("keamanan", "Keributan antarpendukung dekat TPS {tps}", "Adu mulut antarpendukung saat penghitungan suara.", (("high", 3), ("medium", 4)), "Situasi kondusif setelah Bhabinkamtibmas menengahi."),
    Template("netralitas", "Kepala desa diduga mengarahkan pemilih di Kec. {kec}", "Rekaman video beredar di grup WhatsApp warga.", (("medium", 5), ("high", 2)), "Bawaslu kabupaten menerima laporan resmi dan menjadwalkan klarifikasi.", "kec"),
    Template("netralitas", "ASN terlihat hadir di posko pemenangan di Kec. {kec}", "Laporan masyarakat disertai foto.", (("medium", 4), ("low", 3)), "Dilaporkan ke KASN melalui Bawaslu provinsi.", "kec"),
    Template("logistik", "Surat suara tertukar antardapil di TPS {tps}", "Surat suara DPRD kabupaten dapil lain diterima KPPS.", (("high", 5), ("critical", 1)), "Surat suara pengganti dikirim dari gudang KPU kabupaten."),
    Template("logistik", "Kotak suara rusak saat tiba di PPK Kec. {kec}", "Segel utuh tetapi sisi kotak sobek akibat hujan.", (("medium", 4), ("high", 2)), "Isi kotak diperiksa bersama saksi dan Panwascam, dipindahkan ke kotak cadangan.", "ppk", ("rekap",)),
    Template("logistik", "Formulir C.Hasil kurang di TPS {tps}", "KPPS kehabisan formulir salinan untuk saksi.", (("medium", 5), ("low", 3)), "Formulir tambahan diantar PPS."),
    Template("logistik", "Logistik belum tiba di TPS {tps} menjelang pembukaan", "KPPS menunggu kotak dan surat suara dari PPS; TPS belum bisa dibuka pukul 07.00.", (("high", 5), ("critical", 2)), "Logistik tiba pukul 07.40; pemungutan dimulai dengan berita acara keterlambatan.", "tps", ("hari-h",)),
    Template("listrik_jaringan", "Listrik padam saat penghitungan di TPS {tps}", "Penghitungan dilanjutkan dengan lampu senter dan genset warga.", (("medium", 5), ("high", 1)), "Aliran listrik pulih; penghitungan selesai dengan disaksikan saksi dan pengawas TPS.", "tps", ("hari-h",)),
    Template("keamanan", "Kelompok massa berkumpul di dekat TPS {tps}", "Sekelompok orang berkumpul dan meneriakkan nama calon saat pemungutan.", (("critical", 2), ("high", 4)), "Massa membubarkan diri setelah didatangi personel Polsek.", "tps", ("hari-h",)),
    Template("hak_pilih", "Pemilih DPTb ditolak di TPS {tps}", "Pemilih membawa formulir A pindah memilih tetapi surat suara habis.", (("medium", 5), ("high", 1)), "Pemilih diarahkan ke TPS terdekat yang masih memiliki surat suara cadangan."),
    Template("hak_pilih", "Nama pemilih ganda di DPT Kec. {kec}", "Ditemukan 14 nama ganda saat pencocokan daftar hadir.", (("low", 5), ("medium", 3)), "PPK mencatat dalam berita acara; tidak ada pemilih yang mencoblos dua kali.", "kec"),
    Template("bencana", "Banjir merendam akses jalan ke TPS di Kec. {kec}", "Air setinggi lutut; logistik harus diangkut dengan perahu.", (("critical", 3), ("high", 4)), "Logistik dipindahkan dengan perahu BPBD dan tiba dalam keadaan kering.", "kec"),
    Template("akses", "Perahu pengangkut logistik tertahan ombak di Kec. {kec}", "Pengiriman ke desa pesisir menunggu cuaca membaik.", (("high", 3), ("medium", 4)), "Logistik tiba setelah cuaca membaik, dikawal Polairud.", "kec"),
    Template("listrik_jaringan", "Listrik padam di lokasi PPK Kec. {kec}", "Rekapitulasi berlanjut dengan penerangan darurat.", (("medium", 5), ("high", 2)), "Genset dipasang; PLN memulihkan aliran listrik.", "ppk", ("rekap",)),
    Template("sirekap", "Sirekap gagal mengunggah foto C.Hasil di Kec. {kec}", "Aplikasi menampilkan galat saat unggah, jaringan seluler lemah.", (("medium", 5), ("high", 2)), "Unggah berhasil setelah operator pindah ke titik dengan sinyal lebih baik.", "kec"),
    Template("sirekap", "Angka Sirekap berbeda dengan C.Hasil di TPS {tps}", "Hasil pembacaan OCR tidak sesuai formulir fisik.", (("high", 3), ("medium", 4)), "Data dikoreksi PPK sesuai C.Hasil; selisih dicatat dalam berita acara."),
    Template("kesehatan_petugas", "Anggota KPPS pingsan saat penghitungan di TPS {tps}", "Petugas kelelahan setelah bertugas sejak subuh.", (("high", 4), ("critical", 1)), "Petugas dirawat di puskesmas dan dalam kondisi stabil; tugas diambil alih anggota lain."),
    Template("lainnya", "Saksi menolak menandatangani berita acara di PPK Kec. {kec}", "Saksi mengajukan keberatan atas selisih suara.", (("medium", 5), ("low", 2)), "Keberatan dicatat di formulir kejadian khusus; pleno dilanjutkan.", "ppk", ("rekap",)),
)

# Category weights by phase of the night.
PHASES: dict[str, dict[str, dict[str, int]]] = {
    "rekap": {
        "all": {"sirekap": 6, "keamanan": 4, "logistik": 4, "listrik_jaringan": 3, "intimidasi": 2, "lainnya": 3, "kesehatan_petugas": 3, "netralitas": 2, "politik_uang": 1, "bencana": 1, "akses": 1, "hak_pilih": 1},
    },
    "hari-h": {
        "dawn": {"politik_uang": 6, "logistik": 5, "akses": 3, "bencana": 2, "netralitas": 2, "keamanan": 1},
        "polls": {"hak_pilih": 6, "logistik": 4, "netralitas": 3, "politik_uang": 2, "keamanan": 2, "intimidasi": 1, "bencana": 1},
        "count": {"sirekap": 5, "kesehatan_petugas": 4, "keamanan": 3, "listrik_jaringan": 3, "logistik": 2, "lainnya": 2},
    },
}

NOTES = (
    "Tim sudah menuju lokasi.",
    "Sudah dikoordinasikan dengan Polsek setempat.",
    "Panwascam sedang meminta keterangan saksi.",
    "Menunggu laporan lanjutan dari PPK.",
    "KPU kabupaten sudah dihubungi.",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    start_wita: str  # wall-clock label of second 0, for people reading the output
    duration: float  # simulated seconds
    speed: float  # default simulated seconds per real second
    incidents: int  # about how many incidents in the whole night


SCENARIOS = {
    "rekap": Scenario("rekap", "14 Feb 19:00 WITA", 8 * HOUR, 60.0, 48),
    "hari-h": Scenario("hari-h", "14 Feb 05:00 WITA", 17 * HOUR, 120.0, 72),
}


@dataclass(frozen=True)
class SimCommand:
    """One thing a simulated desk does at simulated second `at`.

    A report carries `ref` (its own name for the incident); ack, note,
    escalate and resolve carry the `ref` of the report they act on, and
    become commands once the server has given that incident its id."""

    at: float
    agency: str
    kind: str  # report, stage, ack, note, escalate, resolve
    fields: tuple[tuple[str, Any], ...]
    ref: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.fields).get(key, default)

    def to_command(self, command_id: str, incident: int | None = None) -> Command:
        f = dict(self.fields)
        if self.kind == "report":
            return Report(id=command_id, incident=IncidentDraft(**f))
        if self.kind == "stage":
            return StageUpdate(id=command_id, **f)
        if incident is None:
            raise ValueError(f"{self.kind} needs the incident id of {self.ref}")
        if self.kind == "ack":
            return Ack(id=command_id, incident=incident)
        if self.kind == "note":
            return Note(id=command_id, incident=incident, **f)
        if self.kind == "escalate":
            return Escalate(id=command_id, incident=incident, **f)
        if self.kind == "resolve":
            return Resolve(id=command_id, incident=incident, **f)
        raise ValueError(f"unknown simulated command {self.kind!r}")


def kecamatan_names(regency: Regency) -> list[str]:
    """Real names where we know them (not always all of them), else numbered ones."""
    return list(KECAMATAN.get(regency.code, ())) or [f"{regency.short} {i}" for i in range(1, regency.kecamatan + 1)]


def _weighted(rng: random.Random, weights: dict[str, int] | list[tuple[Any, float]]) -> Any:
    items = list(weights.items()) if isinstance(weights, dict) else weights
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


class _Night:
    """The generator's working state: one seeded random source, one list of commands."""

    def __init__(self, config: Config, scenario: Scenario, seed: int) -> None:
        self.config = config
        self.scenario = scenario
        self.rng = random.Random(f"{scenario.name}:{seed}")
        self.commands: list[SimCommand] = []
        self.refs = itertools.count(1)
        self.stage_keys = [s.key for s in config.stages]
        self.templates = [t for t in TEMPLATES if scenario.name in t.scenarios]
        # The heaviest regencies (most kecamatan and desa) finish their recapitulation last.
        max_kec = max(r.kecamatan for r in config.regencies)
        max_desa = max(r.desa for r in config.regencies) or 1
        self.weight = {r.code: 0.6 * r.kecamatan / max_kec + 0.4 * r.desa / max_desa for r in config.regencies}

    def stage(self, at: float, regency: Regency, stage: str, done: int, *, blocked: bool = False, note: str | None = None) -> None:
        if stage not in self.stage_keys or at > self.scenario.duration:
            return
        self.commands.append(SimCommand(at, "KPU", "stage", (("regency", regency.code), ("stage", stage), ("done", done), ("note", note), ("blocked", blocked))))

    def ramp(self, regency: Regency, stage: str, start_done: int, start: float, end: float, step: tuple[float, float]) -> None:
        """Progress from start_done to the stage total between start and end, in uneven steps."""
        cfg = self.config.stage(stage)
        if cfg is None:
            return
        total = cfg.total_for(regency)
        t, last = start, start_done
        while t < end and last < total:
            t += self.rng.uniform(*step)
            fraction = min(1.0, (t - start) / max(1.0, end - start))
            # Fast at first, a long tail of stragglers at the end.
            done = min(total, start_done + round((total - start_done) * (1 - (1 - fraction) ** 1.6)))
            if done > last:
                self.stage(t, regency, stage, done)
                last = done

    def incident(self, at: float, regency: Regency, template: Template, *, severity: str | None = None, fate: str | None = None) -> None:
        rng = self.rng
        kec = rng.choice(kecamatan_names(regency))
        tps = rng.randint(1, 40)
        sev = severity or _weighted(rng, list(template.severities))
        place = {"tps": f"Kec. {kec}, TPS {tps:03d}", "ppk": f"PPK Kec. {kec}", "kec": f"Kec. {kec}"}[template.place]
        title = template.title.format(kec=kec, tps=f"{tps:03d}", regency=regency.short)[:200]
        ref = f"i{next(self.refs)}"
        desk = DESK.get(template.category, "KPU")
        draft = (("regency", regency.code), ("category", template.category), ("severity", sev), ("title", title), ("detail", template.detail), ("location", place))
        self.commands.append(SimCommand(at, desk, "report", draft, ref))
        if sev in ("critical", "high") and rng.random() < 0.35:
            # Visible trouble reaches the post twice: another desk's people on the ground report it too.
            other = rng.choice([a for a in REPORTER_UNIT if a != desk])
            again = dict(draft) | {"title": f"{title} (laporan {REPORTER_UNIT[other]})"[:200], "detail": f"Laporan dari {REPORTER_UNIT[other]} tentang kejadian yang sama. {template.detail}"}
            self.commands.append(SimCommand(at + rng.uniform(2, 12) * MINUTE, other, "report", tuple(again.items()), f"i{next(self.refs)}"))
        # What the simulated officers do about it; "left" is for the person at the screen.
        fate = fate or _weighted(rng, {"resolved": 45, "acknowledged": 15, "escalated": 8, "left": 32})
        if fate == "left":
            return
        minutes = {"critical": (1, 4), "high": (2, 12), "medium": (5, 40), "low": (15, 120)}[sev]
        ack_at = at + rng.uniform(*minutes) * MINUTE
        self.commands.append(SimCommand(ack_at, desk, "ack", (), ref))
        note_at = ack_at + rng.uniform(3, 20) * MINUTE
        self.commands.append(SimCommand(note_at, desk, "note", (("text", rng.choice(NOTES)),), ref))
        if fate == "escalated":
            self.commands.append(SimCommand(note_at + rng.uniform(2, 10) * MINUTE, desk, "escalate", (("note", "Perlu dukungan tingkat provinsi."),), ref))
        elif fate == "resolved":
            self.commands.append(SimCommand(note_at + rng.uniform(10, 90) * MINUTE, desk, "resolve", (("note", template.resolution),), ref))

    def random_incidents(self, phases: list[tuple[float, float, str]]) -> None:
        """Incidents spread over the night, more where there are more TPS."""
        rng = self.rng
        regencies = list(self.config.regencies)
        tps_weights = [r.tps for r in regencies]
        # Only categories the config knows and this scenario has words for.
        usable = {t.category for t in self.templates if self.config.category(t.category) is not None}
        if not usable:
            return
        weights = PHASES[self.scenario.name]
        span = sum(end - start for start, end, _ in phases)
        for start, end, phase in phases:
            categories = {k: w for k, w in weights[phase].items() if k in usable} or dict.fromkeys(sorted(usable), 1)
            count = max(1, round(self.scenario.incidents * (end - start) / span))
            for _ in range(count):
                at = rng.uniform(start, end)
                category = _weighted(rng, categories)
                template = rng.choice([t for t in self.templates if t.category == category])
                regency = rng.choices(regencies, weights=tps_weights)[0]
                self.incident(at, regency, template)

    def set_piece(self, at: float, preferred: str, category: str, index: int = 0, *, severity: str, fate: str) -> Regency | None:
        """A scripted moment of the night, in a named regency when the config has it."""
        if self.config.category(category) is None:
            return None
        regency = self.config.regency(preferred) or self.rng.choice(self.config.regencies)
        templates = [t for t in self.templates if t.category == category]
        if not templates:
            return None
        self.incident(at, regency, templates[min(index, len(templates) - 1)], severity=severity, fate=fate)
        return regency

    def finish(self) -> list[SimCommand]:
        kept = [c for c in self.commands if c.at <= self.scenario.duration]
        # Stable: same-time commands keep their generated order (a report before its ack).
        return sorted(kept, key=lambda c: c.at)


def _rekap(night: _Night) -> None:
    rng, config = night.rng, night.config
    d = night.scenario.duration
    for regency in config.regencies:
        w = night.weight[regency.code]
        counted = rng.uniform(0.45, 0.7) - 0.15 * w
        # Where the night starts: logistics and voting done, counting under way.
        for key in ("logistik", "pemungutan"):
            stage = config.stage(key)
            if stage is not None:
                night.stage(0, regency, key, stage.total_for(regency))
        start_done = round(regency.tps * counted)
        night.stage(0, regency, "penghitungan", start_done)
        count_end = (1.2 + 2.0 * w + rng.uniform(0, 0.6)) * HOUR
        night.ramp(regency, "penghitungan", start_done, rng.uniform(0, 5) * MINUTE, count_end, (4 * MINUTE, 10 * MINUTE))
        # Kecamatan recapitulation: starts as counting ends, each kecamatan's plenary at its own pace.
        ppk = config.stage("rekap_ppk")
        if ppk is None:
            continue
        total = ppk.total_for(regency)
        rekap_start = count_end * rng.uniform(0.7, 0.9)
        rekap_end = rekap_start + (1.0 + 5.5 * w ** 1.3 + rng.uniform(0, 0.5)) * HOUR
        finishes = sorted(rekap_start + (rekap_end - rekap_start) * (rng.random() ** 0.8) for _ in range(total))
        finishes[-1] = rekap_end
        blocked_at = None
        if rng.random() < 0.25 and total > 3:
            blocked_at = total // 2
        for done, at in enumerate(finishes, start=1):
            if blocked_at is not None and done == blocked_at:
                kec = rng.choice(kecamatan_names(regency))
                night.stage(at, regency, "rekap_ppk", done, blocked=True, note=f"Keberatan saksi di PPK Kec. {kec}: hitung ulang")
                continue
            night.stage(at, regency, "rekap_ppk", done)
        if rekap_end + HOUR < d:
            night.stage(rekap_end + rng.uniform(0.5, 1.0) * HOUR, regency, "rekap_kabkota", 1)
    # The moments the night is remembered for.
    night.set_piece(0.6 * HOUR, "6371", "keamanan", 0, severity="critical", fate="resolved")
    night.set_piece(1.5 * HOUR, "6304", "bencana", severity="high", fate="acknowledged")
    night.set_piece(2.2 * HOUR, "6303", "sirekap", severity="high", fate="resolved")
    night.set_piece(3.1 * HOUR, "6310", "sirekap", 1, severity="medium", fate="left")
    night.set_piece(4.0 * HOUR, "6302", "akses", severity="high", fate="left")
    night.random_incidents([(0.0, d, "all")])


def _hari_h(night: _Night) -> None:
    rng, config = night.rng, night.config
    polls_close = 8 * HOUR  # 13:00 WITA
    for regency in config.regencies:
        w = night.weight[regency.code]
        logistik = config.stage("logistik")
        if logistik is not None:
            total = logistik.total_for(regency)
            start = total - max(1, round(total * rng.uniform(0.0, 0.04) * (0.5 + w)))
            night.stage(0, regency, "logistik", start)
            night.ramp(regency, "logistik", start, 0, (1.0 + 2.5 * w) * HOUR, (8 * MINUTE, 20 * MINUTE))
        pemungutan = config.stage("pemungutan")
        if pemungutan is not None:
            total = pemungutan.total_for(regency)
            closed = round(total * rng.uniform(0.02, 0.06))
            night.stage(polls_close - 20 * MINUTE, regency, "pemungutan", closed)
            night.ramp(regency, "pemungutan", closed, polls_close, polls_close + (0.4 + 1.2 * w) * HOUR, (3 * MINUTE, 8 * MINUTE))
        night.ramp(regency, "penghitungan", 0, polls_close + 10 * MINUTE, polls_close + (8 + 6 * w + rng.uniform(0, 2)) * HOUR, (6 * MINUTE, 15 * MINUTE))
    flood = night.set_piece(0.5 * HOUR, "6304", "bencana", severity="critical", fate="acknowledged")
    logistik = config.stage("logistik")
    if flood is not None and logistik is not None:
        total = logistik.total_for(flood)
        night.stage(0.6 * HOUR, flood, "logistik", total - 12, blocked=True, note="Banjir: distribusi ke 12 TPS ditunda, menunggu perahu BPBD")
        night.stage(3.5 * HOUR, flood, "logistik", total)
    night.set_piece(0.2 * HOUR, "6303", "politik_uang", 1, severity="high", fate="resolved")
    night.set_piece(4.0 * HOUR, "6371", "hak_pilih", severity="medium", fate="resolved")
    night.set_piece(10.0 * HOUR, "6371", "sirekap", severity="high", fate="left")
    night.set_piece(13.0 * HOUR, "6302", "kesehatan_petugas", severity="high", fate="left")
    night.random_incidents([(0.0, 2 * HOUR, "dawn"), (2 * HOUR, polls_close, "polls"), (polls_close, night.scenario.duration, "count")])


def generate(config: Config, scenario: str = "rekap", seed: int = 1) -> list[SimCommand]:
    """The whole night, in time order. Pure: same inputs, same list."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    night = _Night(config, SCENARIOS[scenario], seed)
    {"rekap": _rekap, "hari-h": _hari_h}[scenario](night)
    return night.finish()


def load_stream(config: Config, seed: int = 1) -> Iterator[SimCommand]:
    """An endless, valid mix for benchmarks: mostly stage updates, then reports
    and what officers do to them. `at` is unused (the runner sends at a fixed rate)."""
    rng = random.Random(f"load:{seed}")
    regencies = list(config.regencies)
    stages = list(config.stages)
    categories = [c.key for c in config.categories]
    severities = [s.key for s in config.severities]
    refs = itertools.count(1)
    waiting_ack: list[str] = []
    acked: list[str] = []
    for n in itertools.count():
        roll = rng.random()
        if roll < 0.6:
            regency, stage = rng.choice(regencies), rng.choice(stages)
            total = stage.total_for(regency)
            yield SimCommand(n, "KPU", "stage", (("regency", regency.code), ("stage", stage.key), ("done", rng.randint(0, total)), ("note", None), ("blocked", False)))
        elif roll < 0.75 or not (waiting_ack or acked):
            ref = f"l{next(refs)}"
            regency = rng.choice(regencies)
            fields = (("regency", regency.code), ("category", rng.choice(categories)), ("severity", rng.choice(severities)), ("title", f"Beban uji {ref}"), ("detail", ""), ("location", ""))
            waiting_ack.append(ref)
            yield SimCommand(n, "KPU", "report", fields, ref)
        elif waiting_ack and (roll < 0.85 or not acked):
            ref = waiting_ack.pop(0)
            acked.append(ref)
            yield SimCommand(n, "KPU", "ack", (), ref)
        elif roll < 0.95:
            yield SimCommand(n, "KPU", "note", (("text", rng.choice(NOTES)),), rng.choice(acked))
        else:
            yield SimCommand(n, "KPU", "resolve", (("note", "Selesai (uji beban)."),), acked.pop(0))
