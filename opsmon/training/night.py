"""The night a scenario generates: `generate(config, scenario, seed)` is a
seeded random night as a list of `SimCommand`s, each at a simulated second
since the scenario starts. Same config, scenario and seed: the same list.
Tested without sockets.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from opsmon.core.commands import command
from opsmon.core.config import Config, Regency
from opsmon.core.protocol import Command
from opsmon.training.scenario import (
    MINUTE,
    NOTES,
    REPORTER_UNIT,
    WORKING_HOURS,
    Inject,
    Kecamatan,
    Scenario,
    ScenarioError,
    StagePlan,
    Trouble,
    kecamatan_names,
    kecamatan_of,
    load_scenario,
)


def _weighted(rng: random.Random, weights: dict[str, int] | list[tuple[Any, float]] | tuple[tuple[Any, int], ...]) -> Any:
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


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
    stage: str | None = None  # a random report: the stage whose trouble it is (for the scenario's summary)

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.fields).get(key, default)

    def to_command(self, command_id: str, incident: int | None = None) -> Command:
        f = dict(self.fields)
        if self.kind == "report":
            return command("report", command_id, incident=f)
        if self.kind == "stage":
            return command("stage", command_id, **f)
        if incident is None:
            raise ValueError(f"{self.kind} needs the incident id of {self.ref}")
        if self.kind not in ("ack", "note", "escalate", "resolve"):
            raise ValueError(f"unknown simulated command {self.kind!r}")
        return command(self.kind, command_id, incident=incident, **f)


# --- the night ----------------------------------------------------------------------


class _Night:
    """The generator's working state: one seeded random source, one list of commands."""

    def __init__(self, config: Config, scenario: Scenario, seed: int) -> None:
        self.config = config
        self.scenario = scenario
        self.tz = config.province.tz
        self.rng = random.Random(f"{scenario.name}:{seed}")
        self.commands: list[SimCommand] = []
        self.refs = itertools.count(1)
        # The heaviest regencies (most kecamatan and desa) finish last.
        max_kec = max(r.kecamatan for r in config.regencies)
        max_desa = max(r.desa for r in config.regencies) or 1
        self.weight = {r.code: 0.6 * r.kecamatan / max_kec + 0.4 * r.desa / max_desa for r in config.regencies}
        self.finished: dict[tuple[str, str], float] = {}  # (regency, stage) -> when it was done
        self.active: dict[tuple[str, str], tuple[float, float]] = {}  # (regency, stage) -> under way from, to
        self.plans = {p.key: p for p in scenario.stages}

    # time

    def _local(self, at: float) -> datetime:
        return self.scenario.at(at).astimezone(self.tz)

    def working(self, at: float, plan: StagePlan) -> bool:
        if plan.paused is not None and plan.paused[0] <= at < plan.paused[1]:
            return False
        return not plan.working_hours or WORKING_HOURS[0] <= self._local(at).hour < WORKING_HOURS[1]

    def snap(self, at: float, plan: StagePlan) -> float:
        """The first moment at or after `at` when the stage's people are at work."""
        for _ in range(4):
            if plan.paused is not None and plan.paused[0] <= at < plan.paused[1]:
                at = plan.paused[1] + self.rng.uniform(0, 90) * MINUTE
            if plan.working_hours:
                local = self._local(at)
                if local.hour < WORKING_HOURS[0] or local.hour >= WORKING_HOURS[1]:
                    day = local.date() + timedelta(days=1 if local.hour >= WORKING_HOURS[1] else 0)
                    morning = datetime.combine(day, time(WORKING_HOURS[0]), self.tz)
                    at = (morning - self.scenario.start).total_seconds() + self.rng.uniform(10, 120) * MINUTE
                    continue
            break
        return at

    # stages

    def stage(self, at: float, regency: str, stage: str, done: int, *, blocked: bool = False, note: str | None = None, agency: str = "KPU") -> None:
        if at > self.scenario.duration:
            return
        self.commands.append(
            SimCommand(max(0.0, at), agency, "stage", (("regency", regency), ("stage", stage), ("done", done), ("note", note), ("blocked", blocked)))
        )

    def move_stages(self) -> None:
        for plan in self.scenario.stages:
            cfg = self.config.stage(plan.key)
            if cfg is None:
                continue  # a stage this province's config does not have
            if cfg.scope == "province":
                self.move_province(plan)
                continue
            for regency in self.config.regencies:
                self.move(plan, regency.code, cfg.total_for(regency), self.weight[regency.code], regency)

    def move_province(self, plan: StagePlan) -> None:
        code = self.config.province.code
        if plan.after is not None:
            done = [self.finished.get((r.code, plan.after)) for r in self.config.regencies]
            if any(d is None for d in done):
                return
            self.finished[(code, plan.after)] = max(d for d in done if d is not None)
        self.move(plan, code, 1, 1.0, None)

    def move(self, plan: StagePlan, code: str, total: int, weight: float, regency: Regency | None) -> None:
        rng = self.rng
        begin = plan.start
        if plan.after is not None:
            before = self.finished.get((code, plan.after))
            if before is None:
                return  # the stage before it never finished here
            begin = max(begin, before + rng.uniform(10, 120) * MINUTE)
        begin = self.snap(begin, plan)
        room = max(0.0, plan.end - begin)
        end = begin + room * min(1.0, (0.35 + 0.65 * weight) * rng.uniform(0.85, 1.0))
        first = round(total * rng.uniform(*plan.start_done))
        if first > 0:
            self.stage(begin, code, plan.key, first)
        self.active[(code, plan.key)] = (plan.active_from if plan.active_from is not None else begin, max(begin, end))
        if first >= total:
            # Done from the start (as its window says it must be), its trouble can still happen
            # until its `to`: a dawn raid, a TPS whose box has not come after all.
            self.finished[(code, plan.key)] = begin
            return
        left = total - first
        if left <= plan.updates or total <= 1:
            # One report per unit done (each kecamatan's plenary, a regency's plenary).
            times = sorted(self.snap(begin + (end - begin) * (rng.random() ** 0.8), plan) for _ in range(left - 1))
            times.append(max([self.snap(end, plan), *times]))
            steps = [(t, first + n) for n, t in enumerate(times, start=1)]
        else:
            times = sorted(self.snap(rng.uniform(begin, end), plan) for _ in range(plan.updates - 1))
            times.append(max([self.snap(end, plan), *times]))
            # Fast at first, a long tail of stragglers at the end.
            steps = []
            for n, t in enumerate(times, start=1):
                fraction = n / len(times)
                steps.append((t, first + round(left * (1 - (1 - fraction) ** 1.6))))
        blocked_at = len(steps) // 2 if plan.blocked_chance and len(steps) > 3 and rng.random() < plan.blocked_chance else None
        last = first
        for n, (t, done) in enumerate(steps):
            done = max(done, last)
            if n == blocked_at and regency is not None:
                kec = rng.choice(kecamatan_names(self.config, regency))
                self.stage(t, code, plan.key, done, blocked=True, note=plan.blocked_note.format(kec=kec, regency=regency.short) or None)
            elif done > last or n == len(steps) - 1:
                self.stage(t, code, plan.key, done)
            last = done
        self.finished[(code, plan.key)] = steps[-1][0]
        self.active[(code, plan.key)] = (self.active[(code, plan.key)][0], steps[-1][0])

    def under_way(self, code: str, at: float) -> set[str]:
        """The stages under way in a regency at a moment (and at work then)."""
        found = set()
        for (regency, key), (begin, end) in self.active.items():
            if regency == code and begin <= at <= end and self.working(at, self.plans[key]):
                found.add(key)
        return found

    # incidents

    def category(self, trouble: Trouble) -> str | None:
        return next((c for c in trouble.categories if self.config.category(c) is not None), None)

    def places_for(self, regency: Regency, trouble: Trouble) -> list[Kecamatan]:
        kecamatan = list(kecamatan_of(self.config, regency))
        if trouble.needs:
            kecamatan = [k for k in kecamatan if k.tags & set(trouble.needs)]
        return kecamatan

    def place(self, regency: Regency, kec: Kecamatan) -> tuple[str | None, str]:
        """A real desa or kelurahan from the places file (None where it names none: a
        numbered "Desa 14" reads as made up) and a TPS number a desa could have."""
        # The same draws as a numbered desa took, so a seed still plays the same night.
        villages = kec.villages
        if villages and self.rng.random() < 0.8:
            desa: str | None = self.rng.choice(villages)
        else:
            drawn = self.rng.randint(1, max(2, round(regency.desa / max(1, regency.kecamatan))))
            desa = villages[drawn % len(villages)] if villages else None
        per_desa = max(1, round(regency.tps / max(1, regency.desa or regency.kecamatan)))
        return desa, f"{self.rng.randint(1, max(2, round(per_desa * 1.4))):03d}"

    def words(self, regency: Regency, kec: Kecamatan, desa: str | None, tps: str) -> dict[str, str]:
        """What a trouble's texts may name. A kelurahan (every one in a kota) has a lurah,
        a desa a kepala desa."""
        kelurahan = desa in kec.kelurahan if desa else regency.name.startswith("Kota")
        village = f"{'Kel.' if kelurahan else 'Desa'} {desa}" if desa else None
        return {
            "kec": kec.name,
            "desa": village or f"TPS {tps}",
            "kepala": "lurah" if kelurahan else "kepala desa",
            "Kepala": "Lurah" if kelurahan else "Kepala desa",
            "tps": tps,
            "tempat": f"TPS {tps} {village}, Kec. {kec.name}" if village else f"TPS {tps}, Kec. {kec.name}",
            "regency": regency.short,
            "provinsi": self.config.province.name,
        }

    def incident(self, at: float, regency: Regency, trouble: Trouble, *, fate: str | None = None, stage: str | None = None) -> None:
        rng = self.rng
        category = self.category(trouble)
        kecamatan = self.places_for(regency, trouble)
        if category is None or not kecamatan:
            return
        kec = rng.choice(kecamatan)
        desa, tps = self.place(regency, kec)
        words = self.words(regency, kec, desa, tps)
        village = words["desa"] if desa else None
        location = {
            "tps": f"Kec. {kec.name}, {village}, TPS {tps}" if village else f"Kec. {kec.name}, TPS {tps}",
            "desa": f"Kec. {kec.name}, {village}" if village else f"Kec. {kec.name}, TPS {tps}",
            "kec": f"Kec. {kec.name}",
            "ppk": f"PPK Kec. {kec.name}",
            "kab": f"KPU {regency.name}",
            "prov": f"KPU Provinsi {self.config.province.name}",
        }[trouble.where]
        title = trouble.title.format(**words)[:200]
        severity = _weighted(rng, trouble.severities)
        found = self.config.category(category)
        desk = trouble.desk or (found.desk if found is not None else "KPU")
        draft = (
            ("regency", regency.code),
            ("category", category),
            ("severity", severity),
            ("title", title),
            ("detail", trouble.detail.format(**words)),
            ("location", location[:200]),
        )
        notes = tuple(n.format(**words) for n in trouble.notes)
        self.report(at, desk, draft, severity, trouble.resolution.format(**words), fate=fate, repeat=trouble.repeat, notes=notes, stage=stage)

    def report(
        self,
        at: float,
        desk: str,
        draft: tuple[tuple[str, Any], ...],
        severity: str,
        resolution: str,
        *,
        fate: str | None = None,
        repeat: float | None = None,
        notes: tuple[str, ...] = (),
        stage: str | None = None,
    ) -> None:
        rng = self.rng
        ref = f"i{next(self.refs)}"
        self.commands.append(SimCommand(at, desk, "report", draft, ref, stage))
        chance = repeat if repeat is not None else (0.35 if severity in ("critical", "high") else 0.0)
        if chance and rng.random() < chance:
            # Visible trouble reaches the post twice: another desk's people on the ground report it too.
            fields = dict(draft)
            other = rng.choice([a for a in REPORTER_UNIT if a != desk])
            again = fields | {
                "title": f"{fields['title']} (laporan {REPORTER_UNIT[other]})"[:200],
                "detail": f"Laporan dari {REPORTER_UNIT[other]} tentang kejadian yang sama. {fields['detail']}",
            }
            self.commands.append(SimCommand(at + rng.uniform(2, 12) * MINUTE, other, "report", tuple(again.items()), f"i{next(self.refs)}", stage))
        # What the simulated officers do about it (only when they are simulated); "left" is for the people at the screens.
        fate = fate or _weighted(rng, {"resolved": 45, "acknowledged": 15, "escalated": 8, "left": 32})
        if fate == "left":
            return
        minutes = {"critical": (1, 4), "high": (2, 12), "medium": (5, 40), "low": (15, 120)}.get(severity, (5, 40))
        ack_at = at + rng.uniform(*minutes) * MINUTE
        self.commands.append(SimCommand(ack_at, desk, "ack", (), ref))
        note_at = ack_at + rng.uniform(3, 20) * MINUTE
        self.commands.append(SimCommand(note_at, desk, "note", (("text", rng.choice(notes or NOTES.get(desk) or NOTES["KPU"])),), ref))
        if fate == "escalated":
            self.commands.append(SimCommand(note_at + rng.uniform(2, 10) * MINUTE, desk, "escalate", (("note", "Perlu dukungan tingkat provinsi."),), ref))
        elif fate == "resolved":
            self.commands.append(SimCommand(note_at + rng.uniform(10, 90) * MINUTE, desk, "resolve", (("note", resolution),), ref))

    def random_incidents(self) -> None:
        """Random incidents, each in a stage under way in its regency, more where there are
        more TPS. A stage with its own `incidents` gets about that many while it is under
        way (the scenario's rate for it); the scenario's `incidents` spread over the whole
        night among the stages without one."""
        troubles = [t for t in self.scenario.troubles if self.category(t) is not None and t.weight > 0]
        rated = {p.key: p.incidents for p in self.scenario.stages if p.incidents is not None}
        for key, count in rated.items():
            fitting = [t for t in troubles if key in t.stages]
            for _ in range(count):
                self.draw(fitting, 0.0, self.scenario.duration, only=key)
        rest = [t for t in troubles if any(key not in rated for key in t.stages)]
        for _ in range(self.scenario.incidents if rest else 0):
            self.draw(rest, 0.0, self.scenario.duration, skip=frozenset(rated))

    def draw(self, troubles: list[Trouble], begin: float, end: float, *, only: str | None = None, skip: frozenset[str] = frozenset()) -> None:
        """One incident at a random moment when a stage it fits is under way (up to 40 tries);
        `only`: in that stage's time, of that stage."""
        rng = self.rng
        if not troubles:
            return
        regencies = list(self.config.regencies)
        tps_weights = [r.tps for r in regencies]
        province = self.config.province.code
        window = self.window_of(only) if only is not None else (begin, end)
        if window is None:
            return  # the stage never got under way in this night
        for _attempt in range(40):
            at = rng.uniform(*window)
            regency = rng.choices(regencies, weights=tps_weights)[0]
            stages = (self.under_way(regency.code, at) | self.under_way(province, at)) - skip
            if only is not None:
                stages &= {only}
            fitting = [t for t in troubles if stages & set(t.stages) and self.places_for(self.where(regency, t), t)]
            if fitting:
                trouble = _weighted(rng, [(t, t.weight) for t in fitting])
                stage = next(s.key for s in self.config.stages if s.key in stages and s.key in trouble.stages)
                self.incident(at, self.where(regency, trouble), trouble, stage=stage)
                return

    def window_of(self, key: str) -> tuple[float, float] | None:
        """From the first regency's start to the last one's end of a stage (None: never under way)."""
        spans = [span for (_, stage), span in self.active.items() if stage == key]
        if not spans:
            return None
        return min(b for b, _ in spans), max(e for _, e in spans)

    def where(self, regency: Regency, trouble: Trouble) -> Regency:
        """A trouble that names its regency (the province plenary's city) happens there."""
        if trouble.regency is not None:
            named = self.config.regency(trouble.regency)
            if named is None:
                raise ScenarioError(f"{self.scenario.source}: trouble {trouble.title!r}: regency {trouble.regency!r} is not a regency in the config")
            return named
        return regency

    def inject(self, inject: Inject) -> None:
        fields = dict(inject.fields)
        if inject.regency not in {r.code for r in self.config.regencies} | {self.config.province.code}:
            raise ScenarioError(f"{self.scenario.source}: {inject.where}.regency: {inject.regency!r} is not a regency in the config")
        if inject.kind == "stage":
            stage = self.config.stage(fields["stage"])
            if stage is None:
                raise ScenarioError(f"{self.scenario.source}: {inject.where}.stage: {fields['stage']!r} is not a stage in the config")
            regency = self.config.regency(inject.regency)
            total = stage.total_for(regency) if regency is not None else 1
            done = fields["done"]
            if isinstance(done, str):
                done = total - int(done[6:]) if done.startswith("total-") else total
            if not 0 <= done <= total:
                raise ScenarioError(f"{self.scenario.source}: {inject.where}.done: {done} is not between 0 and {total}")
            self.stage(inject.at, inject.regency, stage.key, done, blocked=fields["blocked"], note=fields["note"], agency=inject.agency)
            return
        if self.config.category(fields["category"]) is None:
            raise ScenarioError(f"{self.scenario.source}: {inject.where}.category: {fields['category']!r} is not a category in the config")
        draft = (("regency", inject.regency), *inject.fields)
        self.report(inject.at, inject.agency, draft, fields["severity"], "Selesai ditangani sesuai arahan posko.", fate=inject.fate, repeat=0.0)

    def finish(self) -> list[SimCommand]:
        kept = [c for c in self.commands if c.at <= self.scenario.duration]
        # Stable: same-time commands keep their generated order (a report before its ack).
        return as_corrections(sorted(kept, key=lambda c: c.at))


LIFTED_NOTE = "Kendala teratasi, pekerjaan dilanjutkan"
RECOUNT_NOTE = "Koreksi angka dari lapangan"


def as_corrections(commands: list[SimCommand]) -> list[SimCommand]:
    """Stage updates in time order, each that steps a count back (an inject's
    lower count) or lifts a block sent as a correction with a note, as a desk
    would: the server refuses both otherwise."""
    held: dict[tuple[Any, Any], tuple[int, bool]] = {}
    out = []
    for c in commands:
        if c.kind == "stage":
            key, done, blocked = (c.get("regency"), c.get("stage")), int(c.get("done") or 0), bool(c.get("blocked"))
            before = held.get(key)
            if before is not None and (done < before[0] or (before[1] and not blocked)):
                note = c.get("note") or (LIFTED_NOTE if before[1] and not blocked else RECOUNT_NOTE)
                fields = tuple((k, v) for k, v in c.fields if k != "note") + (("note", note), ("correct", True))
                c = SimCommand(c.at, c.agency, c.kind, fields, c.ref)
            held[key] = (done, blocked)
        out.append(c)
    return out


def generate(config: Config, scenario: str | Scenario = "rekap", seed: int = 1) -> list[SimCommand]:
    """The whole night, in time order. Pure: same inputs, same list."""
    plan = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, config.province.tz)
    night = _Night(config, plan, seed)
    night.move_stages()
    night.random_incidents()
    for inject in plan.injects:
        night.inject(inject)
    return night.finish()


def load_stream(config: Config, seed: int = 1) -> Iterator[SimCommand]:
    """An endless, valid mix for benchmarks: mostly stage updates, then reports
    and what officers do to them. `at` is unused (the runner sends at a fixed rate)."""
    rng = random.Random(f"load:{seed}")
    regencies = list(config.regencies)
    stages = [s for s in config.stages if not s.province_wide]  # a province stage has no regency rows
    categories = [c.key for c in config.categories]
    severities = [s.key for s in config.severities]
    refs = itertools.count(1)
    waiting_ack: list[str] = []
    acked: list[str] = []
    counted: dict[tuple[str, str], int] = {}
    for n in itertools.count():
        roll = rng.random()
        if roll < 0.6:
            regency, stage = rng.choice(regencies), rng.choice(stages)
            total = stage.total_for(regency)
            # Counts only go up (a lower one would be refused): a full row starts again as a stated correction.
            last = counted.get((regency.code, stage.key), 0)
            done = rng.randint(last, total) if last < total else rng.randint(0, total)
            again = (("note", RECOUNT_NOTE), ("correct", True)) if done < last else (("note", None),)
            counted[(regency.code, stage.key)] = done
            yield SimCommand(n, "KPU", "stage", (("regency", regency.code), ("stage", stage.key), ("done", done), *again, ("blocked", False)))
        elif roll < 0.75 or not (waiting_ack or acked):
            ref = f"l{next(refs)}"
            regency = rng.choice(regencies)
            fields = (
                ("regency", regency.code),
                ("category", rng.choice(categories)),
                ("severity", rng.choice(severities)),
                ("title", f"Beban uji {ref}"),
                ("detail", ""),
                ("location", ""),
            )
            waiting_ack.append(ref)
            yield SimCommand(n, "KPU", "report", fields, ref)
        elif waiting_ack and (roll < 0.85 or not acked):
            ref = waiting_ack.pop(0)
            acked.append(ref)
            yield SimCommand(n, "KPU", "ack", (), ref)
        elif roll < 0.95:
            yield SimCommand(n, "KPU", "note", (("text", rng.choice(NOTES["KPU"])),), rng.choice(acked))
        else:
            yield SimCommand(n, "KPU", "resolve", (("note", "Selesai (uji beban)."),), acked.pop(0))
