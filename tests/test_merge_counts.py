"""Issue 20, defects 2 and 3: a merge's reports are counted once, and a merged
incident that is reopened leaves the one it joined (open, counted, overdue again)."""

from __future__ import annotations

from opsmon.core.domain import decide
from opsmon.core.protocol import Ack, IncidentDraft, Merge, Reopen, Report
from opsmon.core.urgency import is_overdue
from opsmon.reports.sitrep import build
from tests.helpers import province
from tests.world import RULES, SITI, World


def sitrep(w: World) -> dict:  # type: ignore[type-arg]
    return build(province().info(), w.state, w.events, now=w.now, since=None, number=1, by="test", post="Posko")


def repeat(w: World, location: str) -> None:
    draft = IncidentDraft(regency="6371", category="logistik", severity="high", title="Kotak suara rusak", location=location)
    w.do(Report(id="r", incident=draft))


def test_one_fold_and_one_merge_are_two_duplicates_folded() -> None:
    w = World()
    repeat(w, "TPS 4")
    repeat(w, "TPS 4")  # folded into #1: x2
    six, seven = w.report(title="Jalan putus"), w.report(title="Jalan putus lagi")
    w.do(Merge(id="m", incident=seven, into=six))
    assert (w.state.incidents[1].reports, w.state.incidents[six].reports) == (2, 2)
    incidents = sitrep(w)["incidents"]
    assert incidents["duplicates_folded"] == 2  # not 3: the merge is #6's extra report, not also #7's merged_into
    assert incidents["reported"] == 2


def test_a_merged_incident_reopened_is_open_critical_and_overdue_again() -> None:
    w = World()
    sixteen = w.report(severity="critical", title="Bentrok massa")
    seventeen = w.report(severity="critical", title="Bentrok massa di TPS 9")
    w.do(Merge(id="m", incident=sixteen, into=seventeen))
    assert w.state.incidents[seventeen].reports == 2
    assert [i["id"] for i in sitrep(w)["incidents"]["open_urgent"]] == [seventeen]
    w.do(Reopen(id="o", incident=sixteen, note="Bukan kejadian yang sama"))
    reopened = w.state.incidents[sixteen]
    assert reopened.status == "open" and reopened.merged_into is None
    assert w.state.incidents[seventeen].reports == 1  # its report left #17 with it
    w.advance(hours=2)
    assert is_overdue(reopened, w.now)
    doc = sitrep(w)
    assert sorted(i["id"] for i in doc["incidents"]["open_urgent"]) == [sixteen, seventeen]
    assert doc["incidents"]["by_severity"]["critical"] == 2 and doc["incidents"]["duplicates_folded"] == 0
    # Merged again, it joins once: #17 holds both reports, not three.
    w.do(Merge(id="m2", incident=sixteen, into=seventeen))
    assert w.state.incidents[seventeen].reports == 2


def test_reopening_leaves_the_whole_chain_it_was_merged_through() -> None:
    w = World()
    a, b, c = w.report(), w.report(title="B"), w.report(title="C")
    w.do(Merge(id="m1", incident=a, into=b))
    w.do(Merge(id="m2", incident=b, into=c))
    assert w.state.incidents[c].reports == 3
    w.do(Reopen(id="o", incident=a, note="lain"))
    assert (w.state.incidents[b].reports, w.state.incidents[c].reports) == (1, 2)
    assert decide(w.state, Merge(id="m3", incident=a, into=c), SITI, None, w.now, RULES) is not None


def test_belum_di_ack_sejak_counts_from_the_reopen_after_a_merge() -> None:
    """A critical report merged away, then reopened hours later and escalated while nobody
    acknowledges it: it has waited for an ack since the reopen, not since its first report,
    in the sitrep's escalated list and on the regency's panel."""
    from opsmon.core.clock import format_ts
    from opsmon.core.view import summarize
    from opsmon.reports.sitrep import render_text

    w = World()
    first = w.report(severity="critical", title="Bentrok massa")
    other = w.report(severity="critical", title="Bentrok massa di TPS 9")
    w.advance(minutes=10)
    w.do(Merge(id="m", incident=first, into=other))
    w.advance(hours=3)
    reopened_at = format_ts(w.now)
    w.do(Reopen(id="o", incident=first, note="Bukan kejadian yang sama"))
    w.advance(hours=1)
    assert [e.data.incident for e in w.escalate_due() if hasattr(e.data, "incident")].count(first) == 1
    entry = next(e for e in sitrep(w)["incidents"]["escalated"] if e["id"] == first)
    assert entry["status"] == "open" and entry["unacked_since"] == reopened_at
    text = render_text(sitrep(w), "id")
    assert f"#{first} Banjarmasin · level 1 · belum di-ack sejak 00:10 WITA" in text  # 21:00 + 10 min + 3 h, WITA
    w.do(Ack(id="a", incident=other))  # the one it was merged into is taken care of
    panel = next(s for s in summarize(w.state, province().info(), w.now) if s.code == "6371")
    assert panel.oldest_unacked is not None and format_ts(panel.oldest_unacked) == reopened_at  # the panel's "oldest unacked" too
