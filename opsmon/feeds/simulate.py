"""`opsmon simulate`: play a scenario (opsmon.training.scenario) against a server.

`Simulator` sends simulated commands through `opsmon.client.session` sessions, one
per token, each report through a token of the agency that would send it
(a fight at a TPS from a Polri token, vote buying from Bawaslu), mapping
each simulated incident to the id the server gave it.

With `reports_only` it sends only what the field sends (reports, repeated
reports of the same trouble, stage progress) and never acks, notes,
escalations or resolutions: those are for the officers at the screens.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import secrets
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsmon.client.failures import ClientError, Unauthorized
from opsmon.client.handshake import URLs
from opsmon.client.session import Session
from opsmon.core.clock import parse_ts
from opsmon.core.config import Config
from opsmon.core.events import ExerciseClockChanged
from opsmon.core.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.filemodes import exposed, writable_by_others
from opsmon.core.protocol import Batch, Event, ExerciseInfo, ServerMessage
from opsmon.core.records import AGENCIES
from opsmon.feeds.feeder import Outcome, Pipeline, pace_for, percentile
from opsmon.training.exercise import ExerciseClock
from opsmon.training.night import SimCommand, generate, load_stream
from opsmon.training.scenario import FIELD_KINDS, HOUR, Scenario, ScenarioError, load_scenario

__all__ = ["scenario_for", "SimStats", "Simulator", "simulate", "run_simulate_cli", "connections_for", "read_token_file"]


@dataclass
class SimStats:
    sent: int = 0
    ok: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    incidents: int = 0
    duplicates: int = 0  # reports the server folded into an open incident
    stages: int = 0
    left_to_officers: int = 0  # acks, notes, escalations, resolutions not sent (reports only)
    reports_only: bool = False
    planned: int = 0  # commands in the scenario (from where it began)
    unsent: int = 0  # of them, not sent: the time given ran out, or it was stopped
    unsent_reports: int = 0
    reached: float = 0.0  # scenario seconds played
    caught_up: int = 0  # past-due stage updates sent at once (an exercise clock already running)
    skipped_past: int = 0  # past-due reports left out
    paused_seconds: float = 0.0  # real seconds the trainer had the exercise paused
    ended_by_trainer: bool = False  # the trainer ended the exercise before the scenario did
    latencies: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "refused": dict(self.refused),
            "incidents": self.incidents,
            "duplicates": self.duplicates,
            "stage_updates": self.stages,
            "reports_only": self.reports_only,
            "left_to_officers": self.left_to_officers,
            "planned": self.planned,
            "unsent": self.unsent,
            "unsent_reports": self.unsent_reports,
            "scenario_seconds": round(self.reached, 1),
            "caught_up": self.caught_up,
            "skipped_past": self.skipped_past,
            "paused_seconds": round(self.paused_seconds, 1),
            "ended_by_trainer": self.ended_by_trainer,
            "seconds": round(self.elapsed, 3),
            "rate": round(self.ok / self.elapsed, 1) if self.elapsed else 0.0,
            "latency_ms": {"p50": round(percentile(self.latencies, 0.5) * 1000, 2), "p99": round(percentile(self.latencies, 0.99) * 1000, 2)},
        }

    def line(self) -> str:
        j = self.to_json()
        refused = ", ".join(f"{k} {v}" for k, v in sorted(self.refused.items())) or "none"
        return (
            f"{j['sent']} commands in {j['seconds']:.1f} s ({j['rate']}/s ok): {j['ok']} ok, refused: {refused}; "
            f"{j['incidents']} incidents reported ({j['duplicates']} more reports folded in as repeats), {j['stage_updates']} stage updates"
            + (f", {self.left_to_officers} officer actions left to the trainees" if self.reports_only else "")
            + (f"; paused by the trainer for {self.paused_seconds:.0f} s" if self.paused_seconds >= 1 else "")
            + ("; the trainer ended the exercise" if self.ended_by_trainer else "")
            + (
                f"; NOT PLAYED: {self.unsent} of {self.planned} commands ({self.unsent_reports} reports) after {self.reached / HOUR:.1f} scenario hours"
                if self.unsent
                else ""
            )
            + f"; latency p50 {j['latency_ms']['p50']} ms, p99 {j['latency_ms']['p99']} ms"
        )


class Simulator:
    """Sends simulated commands through one or more sessions."""

    def __init__(
        self,
        url: URLs,
        tokens: list[str],
        config: Config,
        *,
        connections: int = 1,
        on_report: Callable[[SimCommand, int], None] | None = None,
        reports_only: bool = False,
        cafile: str | None = None,
    ) -> None:
        self.url = url
        self.cafile = cafile
        self.reports_only = reports_only
        self.tokens = tokens
        self.config = config
        self.connections = connections
        self.on_report = on_report
        self.stats = SimStats(reports_only=reports_only)
        self.sessions: list[Session] = []
        self.pipelines: list[Pipeline] = []
        self.by_agency: dict[str, list[Pipeline]] = {}
        self.reporters: list[str] = []  # token names, in the order given
        self.incident_ids: dict[str, asyncio.Future[int | None]] = {}
        self.run_id = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self._round_robin = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        # An exercise server's clock, as the trainer sets it: the field waits while it is paused.
        self.clock_state = "running"
        self.clock_moved = asyncio.Event()

    def _watch(self, message: ServerMessage) -> None:
        """Follow the trainer's pause, resume and end (`exercise.clock` events)."""
        events = [message] if isinstance(message, Event) else message.events if isinstance(message, Batch) else []
        for event in events:
            if isinstance(event.data, ExerciseClockChanged):
                self.clock_state = event.data.state
                self.clock_moved.set()

    async def open(self) -> None:
        try:
            for token in self.tokens:
                for _ in range(self.connections):
                    session = await Session.open(self.url, token, client="opsmon-simulate", on_frame=self._watch, cafile=self.cafile, page=1)
                    self.sessions.append(session)
                    if session.welcome.exercise is not None:
                        self.clock_state = session.welcome.exercise.state
                    # Paced for the token's role: an admin token may send ten times an officer's rate.
                    rate, burst = pace_for(self.config, session.welcome.user.role)
                    pipeline = Pipeline(session, window=64, rate=rate, burst=burst)
                    self.pipelines.append(pipeline)
                    self.by_agency.setdefault(session.welcome.user.agency, []).append(pipeline)
                    if session.welcome.user.name not in self.reporters:
                        self.reporters.append(session.welcome.user.name)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pipeline in self.pipelines:
            await pipeline.cancel()
        for session in self.sessions:
            await session.close()
        self.stats.ended = self.stats.ended or time.monotonic()

    def _pipeline(self, agency: str, row: str | None = None) -> Pipeline:
        # Several tokens of one agency take turns: several reporters in the field. A stage
        # row's updates all go one way, so they arrive in the order sent (a count sent
        # after another is never overtaken by it, and refused as lower, after a failover).
        choices = self.by_agency.get(agency) or self.pipelines
        if row is not None:
            return choices[zlib.crc32(row.encode()) % len(choices)]
        return choices[next(self._round_robin) % len(choices)]

    def missing_agencies(self, commands: list[SimCommand]) -> list[str]:
        """Agencies the night has reports from but no token of this simulator speaks for."""
        needed = {c.agency for c in commands if c.kind in FIELD_KINDS}
        return [a for a in AGENCIES if a in needed and a not in self.by_agency]

    def _ref(self, ref: str) -> asyncio.Future[int | None]:
        if ref not in self.incident_ids:
            self.incident_ids[ref] = asyncio.get_running_loop().create_future()
        return self.incident_ids[ref]

    @property
    def lost(self) -> str | None:
        return next((p.lost for p in self.pipelines if p.lost), None)

    async def dispatch(self, sim: SimCommand) -> None:
        """Send one simulated command without waiting for its answer (after its
        incident's id, for an action on one)."""
        if self.reports_only and sim.kind not in FIELD_KINDS:
            self.stats.left_to_officers += 1
            return
        if sim.kind in FIELD_KINDS:
            await self._send(sim, None)
            return
        if sim.ref is None:
            return
        future = self._ref(sim.ref)
        if future.done():
            await self._send(sim, future.result())
            return

        async def later() -> None:
            await self._send(sim, await future)

        task = asyncio.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, sim: SimCommand, incident: int | None) -> None:
        if sim.kind not in ("report", "stage") and incident is None:
            return  # its report failed or was a repeat: nothing to act on
        command = sim.to_command(f"sim-{self.run_id}-{next(self._ids)}", incident)
        self.stats.sent += 1

        def done(outcome: Outcome) -> None:
            result = outcome.result
            if result is not None:
                self.stats.latencies.append(outcome.seconds)
            if result is not None and result.ok:
                self.stats.ok += 1
                if sim.kind == "report" and result.duplicate:
                    self.stats.duplicates += 1
                elif sim.kind == "report":
                    self.stats.incidents += 1
                    if self.on_report is not None and result.incident is not None:
                        self.on_report(sim, result.incident)
                elif sim.kind == "stage":
                    self.stats.stages += 1
            else:
                code = (result.code if result is not None else None) or "lost"
                if result is not None and result.reason and result.reason != code:
                    code += f" ({result.reason})"  # says why: a restarted run's older counts are `conflict (count_lower)`
                self.stats.refused[code] = self.stats.refused.get(code, 0) + 1
            if sim.kind == "report" and sim.ref is not None:
                future = self._ref(sim.ref)
                if not future.done():
                    # A repeat's follow-ups are skipped: the first report's officers handle the incident.
                    future.set_result(result.incident if result is not None and result.ok and not result.duplicate else None)

        row = f"{sim.get('regency')}/{sim.get('stage')}" if sim.kind == "stage" else None
        await self._pipeline(sim.agency, row).submit(command, done)

    async def drain(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for pipeline in self.pipelines:
                    await pipeline.drain()

    async def run_timeline(
        self, commands: list[SimCommand], *, speed: float, duration: float | None = None, stop: asyncio.Event | None = None, begin_at: float = 0.0
    ) -> SimStats:
        """Send each command when its simulated time comes (`speed` simulated seconds per real second),
        starting at simulated second `begin_at` (an exercise server's clock may be past the start)."""
        stop = stop or asyncio.Event()
        start = time.monotonic()
        deadline = start + duration if duration is not None else math.inf
        self.stats.planned = len(commands)
        for n, sim in enumerate(commands):
            due = start + (sim.at - begin_at) / speed
            if due > deadline:
                self.stats.unsent = len(commands) - n
                self.stats.unsent_reports = sum(1 for c in commands[n:] if c.kind == "report")
                self.stats.reached = begin_at + (deadline - start) * speed
                break
            wait = due - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(wait, deadline - time.monotonic()))
            if self.clock_state == "paused" and not stop.is_set():
                # The trainer paused: the field waits, and goes on where it stood.
                # (--duration is real time: a pause counts in it.)
                paused = time.monotonic()
                while self.clock_state == "paused" and not stop.is_set() and time.monotonic() < deadline:
                    self.clock_moved.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.clock_moved.wait(), min(1.0, max(0.01, deadline - time.monotonic())))
                start += time.monotonic() - paused
                self.stats.paused_seconds += time.monotonic() - paused
            if stop.is_set() or time.monotonic() > deadline or self.lost or self.clock_state == "ended":
                self.stats.unsent = len(commands) - n
                self.stats.unsent_reports = sum(1 for c in commands[n:] if c.kind == "report")
                self.stats.reached = begin_at + (time.monotonic() - start) * speed
                self.stats.ended_by_trainer = self.clock_state == "ended"
                break
            await self.dispatch(sim)
            self.stats.reached = sim.at
        if not stop.is_set() and duration is not None and not self.lost:
            # Keep the connection (and the clock) until the duration is over.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, deadline - time.monotonic()))
        await self.drain()
        self.stats.ended = time.monotonic()
        return self.stats

    async def run_rate(self, stream: Iterator[SimCommand], *, rate: float, duration: float | None, stop: asyncio.Event | None = None) -> SimStats:
        """A fixed load: `rate` commands a second, spread over the sessions."""
        stop = stop or asyncio.Event()
        start = time.monotonic()
        deadline = start + duration if duration is not None else math.inf
        for n, sim in enumerate(stream):
            due = start + n / rate
            now = time.monotonic()
            if due >= deadline or stop.is_set() or self.lost:
                break
            if due > now:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), due - now)
            await self.dispatch(sim)
        await self.drain()
        self.stats.ended = time.monotonic()
        return self.stats


def connections_for(rate: float, config: Config) -> int:
    """Enough connections that none exceeds the server's per-connection command rate."""
    per_connection = pace_for(config)[0]
    return max(1, math.ceil(rate / per_connection))


async def simulate(
    url: URLs,
    tokens: list[str],
    config: Config,
    *,
    scenario: str | Scenario = "rekap",
    seed: int = 1,
    speed: float | None = None,
    rate: float | None = None,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    on_report: Callable[[SimCommand, int], None] | None = None,
    reports_only: bool | None = None,
    agencies: dict[str, str] | None = None,
    notice: Callable[[str], None] | None = None,
    cafile: str | None = None,
) -> SimStats:
    """Run a scenario (or a fixed --rate load) against a server until it ends, `duration` passes, or `stop` is set.

    `reports_only`: send only what the field sends (None: only on an exercise
    server). `agencies`: token -> the agency it was given for; a token of
    another agency is a usage error. `notice` hears what the person running it should know."""
    night = scenario if isinstance(scenario, Scenario) else scenario_for(scenario, config)
    if not tokens:
        raise FeedError("no token given", EXIT_USAGE)
    connections = connections_for(rate, config) if rate else 1
    simulator = Simulator(
        url, tokens, config, connections=max(1, math.ceil(connections / len(tokens))), on_report=on_report, reports_only=bool(reports_only), cafile=cafile
    )
    try:
        await simulator.open()
    except Unauthorized as exc:
        raise FeedError(str(exc), EXIT_UNAUTHORIZED) from None
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    try:
        for session, token in zip(simulator.sessions[:: simulator.connections], tokens, strict=True):
            wanted = (agencies or {}).get(token)
            user = session.welcome.user
            if wanted is not None and user.agency != wanted:
                raise FeedError(
                    f"--token-{wanted.lower()} is a {user.agency} token ({user.name}); reports from {wanted} must be signed by a {wanted} token", EXIT_USAGE
                )
            if not user.may_act():
                raise FeedError(f"the token of {user.name} is a {user.role} token: it may not report (use an officer token)", EXIT_USAGE)
        if reports_only is None:
            simulator.reports_only = simulator.stats.reports_only = is_exercise(simulator.sessions[0])
        if rate:
            stats = await simulator.run_rate(load_stream(config, seed), rate=rate, duration=duration, stop=stop)
        else:
            try:
                plan = generate(config, night, seed)
            except ScenarioError as exc:
                raise FeedError(str(exc), EXIT_USAGE) from None
            for agency in simulator.missing_agencies(plan):
                if notice is not None:
                    notice(f"no {agency} token: {agency}'s reports are signed by {', '.join(simulator.reporters)} (pass --token-{agency.lower()})")
            begin_at = 0.0
            exercise = simulator.sessions[0].welcome.exercise
            if exercise is not None:
                if speed is not None and abs(speed - exercise.speed) > 1e-9:
                    raise FeedError(f"the exercise server runs at x{exercise.speed:g}: leave --speed out or give the same", EXIT_USAGE)
                speed = exercise.speed
                if notice is not None:
                    at = parse_ts(exercise.now).astimezone(config.province.tz)
                    what = "reports and stage progress only (the trainees do the rest)" if simulator.reports_only else "the officers' actions too"
                    notice(
                        f"exercise {exercise.name!r}: playing on the server's clock ({at:%d %b %H:%M} {config.province.timezone_name}, x{exercise.speed:g}), {what}"
                    )
                plan, begin_at = _align(plan, night, exercise, simulator.stats, config, notice)
            stats = await simulator.run_timeline(plan, speed=speed or night.speed, duration=duration, stop=stop, begin_at=begin_at)
        if simulator.lost:
            raise LostNight(f"{simulator.lost} ({stats.ok} commands done)", stats)
        return stats
    finally:
        await simulator.close()


STILL_NEWS = 15 * 60.0  # scenario seconds
STARTUP_SECONDS = 10.0  # real seconds


def _align(
    plan: list[SimCommand], night: Scenario, exercise: ExerciseInfo, stats: SimStats, config: Config, notice: Callable[[str], None] | None
) -> tuple[list[SimCommand], float]:
    """Play the scenario on the exercise server's clock: from where that clock stands.

    What was due before then is not played as a burst of stale reports: the
    reports are left out (said so), and the stages jump to where they would be."""
    clock = ExerciseClock.from_welcome(exercise)
    offset = (clock() - night.start).total_seconds()
    tz = config.province.tz
    if offset >= night.duration:
        raise FeedError(
            f"the exercise clock ({clock().astimezone(tz):%d %b %H:%M}) is past the end of {night.name} ({night.at(night.duration).astimezone(tz):%d %b %H:%M}): "
            "start the next session with `opsmon-server reset --keep-tokens`",
            EXIT_USAGE,
        )
    # A few scenario minutes late (the simulator started just after the server) is still news;
    # so is a start a few real seconds late at a speed where they are hours.
    stale = offset - max(STILL_NEWS, STARTUP_SECONDS * exercise.speed)
    past = [c for c in plan if c.at < stale]
    if not past:
        return plan, offset
    latest: dict[tuple[Any, Any], SimCommand] = {}
    for c in past:
        if c.kind == "stage":
            latest[(c.get("regency"), c.get("stage"))] = c
    stats.caught_up = len(latest)
    stats.skipped_past = sum(1 for c in past if c.kind == "report")
    if notice is not None:
        notice(
            f"the exercise clock is already at {clock().astimezone(tz):%d %b %H:%M} {config.province.timezone_name}, {offset / HOUR:.1f} h into {night.name}: "
            f"{stats.skipped_past} reports due before then are left out and the stages caught up at once; "
            "to play it from the start, stop the server, `opsmon-server reset --keep-tokens`, and start it again"
        )
    caught_up = [SimCommand(stale, c.agency, c.kind, c.fields, c.ref) for c in latest.values()]
    return caught_up + [c for c in plan if c.at >= stale], offset


def scenario_for(name: str, config: Config) -> Scenario:
    """A shipped scenario or a scenario file; a bad one is a usage error naming the key."""
    try:
        return load_scenario(name, config.province.tz)
    except ScenarioError as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None


def is_exercise(session: Session) -> bool:
    """The server says it runs an exercise (welcome.exercise), so the trainees do the officers' work."""
    return session.welcome.exercise is not None


def describe_report(sim: SimCommand, incident: int, config: Config) -> str:
    regency = config.regency(str(sim.get("regency")))
    return f"#{incident:<4} {regency.short if regency else sim.get('regency'):<13} {sim.get('severity'):<8} {sim.get('title')}"


class LostNight(FeedError):
    """No server answered within the deadline: the night stops, and what was done is still summed up."""

    def __init__(self, message: str, stats: SimStats) -> None:
        super().__init__(message, EXIT_UNREACHABLE)
        self.stats = stats


def read_token_file(path: str) -> list[str]:
    """One token a line (blank lines and # comments skipped); each token's agency comes from the server."""
    unsafe = writable_by_others(Path(path).expanduser())
    if unsafe is not None:
        raise FeedError(f"--token-file: not reading {unsafe}", EXIT_USAGE)
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise FeedError(f"--token-file {path}: cannot read ({exc.strerror or exc})", EXIT_USAGE) from None
    tokens = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise FeedError(f"--token-file {path}: no tokens in it (one a line)", EXIT_USAGE)
    loose = exposed(Path(path).expanduser())
    if loose is not None:
        print(f"opsmon: warning: the token file {loose}", file=sys.stderr)
    return tokens


def simulator_tokens(args: Any, default: str | None) -> tuple[list[str], dict[str, str]]:
    """Every token the simulator signs with, and the agency each per-agency flag promised."""
    tokens: list[str] = []
    agencies: dict[str, str] = {}
    for agency in AGENCIES:
        token = getattr(args, f"token_{agency.lower()}", None)
        if token:
            tokens.append(token)
            agencies[token] = agency
    if getattr(args, "token_file", None):
        tokens += read_token_file(args.token_file)
    if not tokens:
        if not default:
            raise FeedError("no token: pass --token, --token-kpu/--token-bawaslu/--token-polri or --token-file (or set OPSMON_TOKEN)", EXIT_USAGE)
        tokens.append(default)
    return list(dict.fromkeys(tokens)), agencies


def run_simulate_cli(args: Any, config: Config, url: URLs, token: str | None, cafile: str | None = None) -> int:
    import json

    night = scenario_for(args.scenario, config)
    speed = args.speed or night.speed
    tokens, agencies = simulator_tokens(args, token)

    def on_report(sim: SimCommand, incident: int) -> None:
        if not args.quiet:
            print(describe_report(sim, incident, config), file=sys.stderr, flush=True)

    def notice(text: str) -> None:
        print(f"opsmon simulate: {text}", file=sys.stderr, flush=True)

    if not args.quiet and not args.rate:
        real = night.duration / speed
        start = night.start_label(config.province.tz)
        print(
            f"simulating {night.name} from {start}, {night.duration / HOUR:.0f} h at x{speed:g} (~{real / 60:.0f} min, or at an exercise server's speed); ctrl+c stops",
            file=sys.stderr,
        )
    reports_only = True if args.reports_only else (False if args.with_officers else None)

    async def until_interrupted() -> tuple[SimStats, bool]:
        # ctrl+c stops the night cleanly (answers drained, connections closed) and still prints the summary.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, stop.set)
        try:
            stats = await simulate(
                url,
                tokens,
                config,
                scenario=night,
                seed=args.seed,
                speed=args.speed,
                rate=args.rate,
                duration=args.duration,
                stop=stop,
                on_report=on_report,
                reports_only=reports_only,
                agencies=agencies,
                notice=notice,
                cafile=cafile,
            )
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
        return stats, stop.is_set()

    try:
        stats, interrupted = asyncio.run(until_interrupted())
    except LostNight as lost:
        # The summary of what was done before the loss, then the one-line error (exit 4).
        print(json.dumps(lost.stats.to_json()) if args.json else lost.stats.line())
        raise
    print(json.dumps(stats.to_json()) if args.json else stats.line())
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
