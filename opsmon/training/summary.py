"""A scenario on one screen, before it is run: how many reports each stage brings,
of which categories, where and on which day (`opsmon exercise scenario NAME --summary`).
Pure: the same seeded night `opsmon simulate` plays."""

from __future__ import annotations

from collections import Counter

from opsmon.core.config import Config
from opsmon.training.night import SimCommand, generate
from opsmon.training.scenario import load_scenario

INJECT = "inject"


def summary(config: Config, scenario: str, seed: int = 1) -> str:
    """Markdown: reports per stage and category, per regency (with criticals), per day."""
    night = load_scenario(scenario, config.province.tz)
    reports = [c for c in generate(config, scenario, seed) if c.kind == "report"]
    tz = config.province.tz
    again = [c for c in reports if str(c.get("detail", "")).startswith("Laporan dari ")]
    lines = [
        f"**{night.name}**: {night.title}",
        "",
        f"{night.start.astimezone(tz):%d %b %Y %H:%M} to {night.at(night.duration).astimezone(tz):%d %b %Y %H:%M} "
        f"{config.province.timezone_name}, x{night.speed:g}, seed {seed}: {len(reports)} reports "
        f"({len(again)} of them a second desk reporting the same trouble, {sum(1 for c in reports if c.stage is None)} timed injects).",
        "",
        "| stage | reports | categories (most first) |",
        "| --- | ---: | --- |",
    ]
    stage_label = {s.key: s.label.id for s in config.stages}
    by_stage: dict[str, list[SimCommand]] = {}
    for c in reports:
        by_stage.setdefault(c.stage or INJECT, []).append(c)
    for key in [*(s.key for s in config.stages), INJECT]:
        found = by_stage.get(key, [])
        if not found and key == INJECT:
            continue
        categories = Counter(str(c.get("category")) for c in found).most_common()
        label = stage_label.get(key, "timed injects")
        lines.append(f"| {label} | {len(found)} | {', '.join(f'{_category(config, k)} {n}' for k, n in categories) or '-'} |")
    lines += ["", "| regency | reports | critical |", "| --- | ---: | ---: |"]
    per_regency = Counter(str(c.get("regency")) for c in reports)
    critical = Counter(str(c.get("regency")) for c in reports if c.get("severity") == "critical")
    for regency in config.regencies:
        lines.append(f"| {regency.short} | {per_regency[regency.code]} | {critical[regency.code]} |")
    days = Counter(night.at(c.at).astimezone(tz).date() for c in reports)
    lines += ["", "Reports per day: " + ", ".join(f"{day:%d %b} {n}" for day, n in sorted(days.items())) + "."]
    return "\n".join(lines) + "\n"


def _category(config: Config, key: str) -> str:
    found = config.category(key)
    return found.label.id if found is not None else key
