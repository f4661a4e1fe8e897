"""The queue and the counts kept per change (opsmon.core.view: Changes, QueueIndex, Tally)
show exactly what reading the whole state again shows, whatever the events: reports,
acks, snoozes, merges and reopens up a merge chain, resolutions that leave the queue 24
hours later, severity changes, owners; and a follower too far behind reads it all again."""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsmon.core.domain import DomainError
from opsmon.core.fold import touches
from opsmon.core.protocol import Ack, Assign, IncidentDraft, Merge, Owner, Reopen, Report, Resolve, SeverityChange, Snooze, Unack
from opsmon.core.records import Actor
from opsmon.core.urgency import urgency_key
from opsmon.core.view import Changes, Focus, Lookup, QueueFilter, QueueIndex, Tally, queue, summarize, totals
from tests.helpers import province
from tests.world import World

CONFIG = province().info()
LOOKUP = Lookup(CONFIG, "id")
BUDI = Actor(name="Budi", agency="Polri")

# Views the screens keep: the dashboard's (each sort, filters, a focus) and the regency screen's.
VIEWS: list[tuple[QueueFilter, Focus | None, bool]] = [
    (QueueFilter(), None, False),
    (QueueFilter(sort="newest"), None, False),
    (QueueFilter(sort="deadline"), None, False),
    (QueueFilter(sort="severity", severity="critical"), None, False),
    (QueueFilter(unacked_only=True, text="kotak"), None, False),
    (QueueFilter(), Focus(frozenset({"6371"})), False),
    (QueueFilter(regency="6371"), None, True),
]

STEP = st.tuples(
    st.sampled_from(["report", "ack", "resolve", "reopen", "snooze", "unack", "merge", "severity", "assign", "wait", "wait_day"]),
    st.integers(0, 30),
    st.integers(0, 30),
    st.sampled_from(["critical", "high", "medium", "low"]),
    st.sampled_from(["6371", "6372", "6303"]),
)


def act(w: World, step: tuple[str, int, int, str, str]) -> None:
    verb, a, b, severity, regency = step
    ids = sorted(w.state.incidents)
    one = ids[a % len(ids)] if ids else 0
    other = ids[b % len(ids)] if ids else 0
    commands = {
        "ack": lambda: Ack(id="c", incident=one),
        "resolve": lambda: Resolve(id="c", incident=one, note="selesai"),
        "reopen": lambda: Reopen(id="c", incident=one, note="belum"),
        "snooze": lambda: Snooze(id="c", incident=one, minutes=30, note="tunggu"),
        "unack": lambda: Unack(id="c", incident=one, note="salah"),
        "merge": lambda: Merge(id="c", incident=one, into=other),
        "severity": lambda: SeverityChange(id="c", incident=one, severity=severity, note="dinilai ulang"),
        "assign": lambda: Assign(id="c", incident=one, to=Owner(name=BUDI.name, agency=BUDI.agency)),
    }
    if verb == "report" or not ids:
        w.report(severity=severity, regency=regency, title=f"Kotak suara {a}" if a % 2 else f"Jalan putus {a}")
    elif verb == "wait":
        w.advance(minutes=7)
    elif verb == "wait_day":
        w.advance(hours=13)  # twice: past the 24 hours a resolved incident stays listed
    else:
        try:
            w.do(commands[verb](), BUDI if verb == "assign" else w.events[0].actor)
        except DomainError:
            pass  # refused (acked twice, merged into itself...): nothing folded


def picture(rows: QueueIndex, now: datetime) -> tuple[object, ...]:
    """All a screen reads from an index."""
    oldest, nearest = rows.oldest(), rows.nearest_deadline()
    return (
        rows.ids(),
        [rows[n] for n in range(len(rows))],  # the incidents as the rows draw them (x2 after a merge...)
        {column: dict(values) for column, values in rows.values.items() if values},
        rows.open_work,
        oldest.reported if oldest else None,
        nearest.ack_due if nearest else None,
        {i: rows.position(i) for i in rows.ids()},
    )


def tallied(tally: Tally) -> tuple[object, ...]:
    return (
        tally.open,
        tally.unacked,
        {code: counts for code, counts in tally.by_severity.items() if counts},
        {code: sorted(waiting) for code, waiting in tally.waiting.items() if waiting},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=1, max_size=40))
def test_kept_per_change_is_what_reading_everything_shows(steps: list[tuple[str, int, int, str, str]]) -> None:
    w = World()
    changes = Changes()
    kept = [QueueIndex(live_only=live) for _, _, live in VIEWS]
    tally = Tally()
    for step in steps:
        before = len(w.events)
        act(w, step)
        for event in w.events[before:]:
            changes.touched(touches(event))  # what the app notes per Synced: no state, so no merge chain
        tally.follow(w.state, changes)
        assert tallied(tally) == tallied(fresh_tally(w))
        for index, (view, focus, live) in zip(kept, VIEWS, strict=True):
            index.update(w.state, changes, LOOKUP, view, w.now, focus)
            fresh = QueueIndex(live_only=live).update(w.state, Changes(), LOOKUP, view, w.now, focus)
            assert picture(index, w.now) == picture(fresh, w.now), (view, focus, live)
    # And the screens' figures built from the kept counts are those of a fresh count.
    assert summarize(w.state, CONFIG, w.now, tally) == summarize(w.state, CONFIG, w.now)
    assert totals(w.state, CONFIG, w.now, tally) == totals(w.state, CONFIG, w.now)


def fresh_tally(w: World) -> Tally:
    tally = Tally()
    tally.follow(w.state, Changes())
    return tally


def test_the_queue_lists_in_the_views_order_and_drops_a_day_old_resolution() -> None:
    w = World()
    low, critical, high = w.report(severity="low"), w.report(severity="critical"), w.report(severity="high")
    changes = Changes()
    rows = QueueIndex().update(w.state, changes, LOOKUP, QueueFilter(), w.now)
    assert rows.ids() == [critical, high, low]
    event = w.do(Resolve(id="x", incident=critical, note="selesai"))
    changes.touched(touches(event))
    rows.update(w.state, changes, LOOKUP, QueueFilter(), w.now)
    assert rows.ids() == [high, low, critical]  # resolved: last, still listed
    w.advance(hours=24, minutes=1)
    rows.update(w.state, changes, LOOKUP, QueueFilter(), w.now)
    assert rows.ids() == [high, low] and critical not in rows  # a fresh snapshot would not carry it
    assert [i.id for i in queue(w.state, LOOKUP, QueueFilter(), w.now)] == [high, low]


def test_a_reopened_merge_gives_its_report_back_along_the_chain() -> None:
    w = World()
    a, b, c = w.report(), w.report(title="B"), w.report(title="C")
    changes = Changes()
    rows = QueueIndex().update(w.state, changes, LOOKUP, QueueFilter(), w.now)
    for command in (Merge(id="m1", incident=a, into=b), Merge(id="m2", incident=b, into=c)):
        changes.touched(touches(w.do(command)))
    rows.update(w.state, changes, LOOKUP, QueueFilter(), w.now)
    assert rows[rows.position(c) or 0].reports == 3
    changes.touched(touches(w.do(Reopen(id="o", incident=a, note="bukan yang sama"))))  # touches: `a` only
    rows.update(w.state, changes, LOOKUP, QueueFilter(), w.now)
    assert rows[rows.position(c) or 0].reports == 2 and rows[rows.position(b) or 0].reports == 1


def test_a_follower_too_far_behind_or_after_a_new_state_reads_it_all() -> None:
    changes = Changes()
    changes.touched(range(5))
    assert changes.since(0) == {0, 1, 2, 3, 4} and changes.since(5) == set()
    changes.reset()  # a snapshot: every follower starts over
    assert changes.since(5) is None and changes.since(changes.version) == set()
    far = changes.version
    changes.touched(range(Changes.KEEP + 1))  # more than the log keeps
    assert changes.since(far) is None
    assert changes.since(changes.version - 1) == {Changes.KEEP}


def test_a_queue_out_of_time_catches_up_over_several_turns_to_what_reading_everything_shows() -> None:
    """A paged snapshot's pages bring thousands of incidents to a repaint: the dashboard's
    queue takes them a few milliseconds a turn (`until`), so a key is not held behind them."""
    w = World()
    changes = Changes()
    rows = QueueIndex().update(w.state, changes, LOOKUP, QueueFilter(), w.now)
    for n in range(300):
        draft = IncidentDraft(
            regency=("6371", "6372", "6303")[n % 3],
            category="logistik",
            severity=("critical", "high", "low")[n % 3],
            title=f"Laporan {n}",
            location=f"TPS {n:03d}",
        )
        changes.touched(touches(w.do(Report(id=f"r{n}", incident=draft))))
    turns = 0
    while True:
        rows.update(w.state, changes, LOOKUP, QueueFilter(), w.now, until=0.0)  # out of time from the start
        turns += 1
        if rows.caught_up:
            break
        keys = [urgency_key(rows[row]) for row in range(len(rows))]
        assert 0 < len(rows) < 300 and keys == sorted(keys)  # part of the rows, in order; the rest kept for the next turn
    assert turns > 1 and len(rows) == 300
    fresh = QueueIndex().update(w.state, Changes(), LOOKUP, QueueFilter(), w.now)
    assert picture(rows, w.now) == picture(fresh, w.now)
