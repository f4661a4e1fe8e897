"""What the panels and the header say about the fixed night (opsmon/training/sample_night.py)."""

from __future__ import annotations

from opsmon.training.sample_night import NOW, fixed_night

# --- what the panels and header say about that night (pure, no screen) ----------


def test_panels_say_current_stage_counts_and_overdue() -> None:
    from opsmon.core.view import summarize, totals
    from tests.helpers import province

    welcome, state, _ = fixed_night(province())
    panels = {s.code: s for s in summarize(state, welcome.config, NOW)}
    banjarmasin = panels["6371"]
    assert (banjarmasin.stage.key, banjarmasin.done, banjarmasin.total) == ("rekap_ppk", 3, 5)
    assert banjarmasin.open_by_severity == {"critical": 0, "high": 1, "medium": 1, "low": 0}
    assert panels["6306"].blocked and panels["6306"].stage.key == "penghitungan"
    assert panels["6310"].critical_unacked == 1 and panels["6310"].overdue == 1  # critical, 35 min unacknowledged
    assert panels["6372"].stage is None  # every stage done
    head = totals(state, welcome.config)
    assert (head.open, head.unacked) == (8, 6)
