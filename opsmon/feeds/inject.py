"""`opsmon exercise inject`: the trainer sends an incident now, as a field desk.

Typed (`--desk --regency --category --severity --title [--detail --location]`)
or prepared (`--from-scenario N`: the scenario's Nth `[[inject]]`, its fields
as defaults that the typed options override; `--list` shows them). Every
mistake is one line (a FeedError with EXIT_USAGE) before anything is sent.
"""

from __future__ import annotations

import argparse
from datetime import tzinfo
from typing import Any

from opsmon.core.commands import CommandError, command
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_USAGE, FeedError
from opsmon.core.protocol import Report
from opsmon.core.records import AGENCIES
from opsmon.core.text import for_terminal
from opsmon.feeds.feeder import LocalInvalid, check_category, check_severity, resolve_regency
from opsmon.training.scenario import Inject, ScenarioError, load_scenario

TYPED = ("desk", "regency", "category", "severity", "title")


def scenario_injects(name: str, tz: tzinfo) -> list[tuple[int, Inject]]:
    """The scenario's `[[inject]]` tables that are incidents, numbered as the file has them (1 = its first inject)."""
    try:
        scenario = load_scenario(name, tz)
    except ScenarioError as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None
    return [(n, inject) for n, inject in enumerate(scenario.injects, 1) if inject.kind == "report"]


def list_lines(config: Config, name: str) -> list[str]:
    """What `--list` prints: one line per incident inject (number, scenario time, desk, place, kind, title)."""
    tz = config.province.tz
    scenario = load_scenario(name, tz)
    lines = []
    for n, inject in scenario_injects(name, tz):
        fields = dict(inject.fields)
        regency = config.regency(inject.regency)
        place = regency.short if regency is not None else inject.regency
        when = scenario.at(inject.at).astimezone(tz)
        lines.append(for_terminal(f"{n:>3}  {when:%d %b %H:%M}  {inject.agency:<7}  {place:<12}  {fields['category']}/{fields['severity']}  {fields['title']}"))
    return lines


def _desk(value: str) -> str:
    for agency in AGENCIES:
        if value.strip().casefold() == agency.casefold():
            return agency
    raise FeedError(f"--desk {value!r} is not one of {', '.join(AGENCIES)}", EXIT_USAGE)


def build(args: argparse.Namespace, config: Config, scenario: str | None, command_id: str) -> Report:
    """The inject's `report` command, checked against the config."""
    base: dict[str, Any] = {}
    desk: str | None = None
    if args.from_scenario is not None:
        if scenario is None:
            raise FeedError("--from-scenario needs the scenario: give --scenario NAME (the server runs none)", EXIT_USAGE)
        prepared = dict(scenario_injects(scenario, config.province.tz))
        inject = prepared.get(args.from_scenario)
        if inject is None:
            known = ", ".join(str(n) for n in prepared) or "none"
            raise FeedError(
                f"--from-scenario {args.from_scenario}: {scenario} has no incident inject {args.from_scenario} (its incident injects: {known}; see --list)",
                EXIT_USAGE,
            )
        base = {"regency": inject.regency, **dict(inject.fields)}
        desk = inject.agency
    else:
        missing = [f"--{name}" for name in TYPED if getattr(args, name) is None]
        if missing:
            raise FeedError(f"an inject needs {', '.join(missing)} (or --from-scenario N; --list shows the scenario's)", EXIT_USAGE)
    desk = _desk(args.desk) if args.desk is not None else desk
    try:
        regency = resolve_regency(config, args.regency if args.regency is not None else base["regency"])
        category = args.category if args.category is not None else base["category"]
        severity = args.severity if args.severity is not None else base["severity"]
        check_category(config, category)
        check_severity(config, severity)
    except LocalInvalid as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None
    title = (args.title if args.title is not None else base["title"]).strip()
    if not 1 <= len(title) <= 200:
        raise FeedError("--title must be 1 to 200 characters", EXIT_USAGE)
    detail = args.detail if args.detail is not None else base.get("detail", "")
    location = args.location if args.location is not None else base.get("location", "")
    if len(detail) > 4000 or len(location) > 200:
        raise FeedError("--detail may be at most 4000 characters and --location 200", EXIT_USAGE)
    reporter = args.reporter.strip() if args.reporter is not None else None
    if reporter is not None and not 1 <= len(reporter) <= 100:
        raise FeedError("--reporter must be 1 to 100 characters", EXIT_USAGE)
    draft = {"regency": regency.code, "category": category, "severity": severity, "title": title, "detail": detail, "location": location}
    try:
        built = command("report", command_id, incident=draft, inject=True, desk=desk, reporter=reporter)
    except CommandError as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None
    assert isinstance(built, Report)
    return built
