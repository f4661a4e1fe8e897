"""Snapshots of the screens with a fixed clock and fixed data (no network)."""

from __future__ import annotations

from tests.tui_helpers import night_app


def test_dashboard_80x24(snap_compare) -> None:
    assert snap_compare(night_app(), terminal_size=(80, 24))


def test_dashboard_200x60(snap_compare) -> None:
    assert snap_compare(night_app(), terminal_size=(200, 60))


def test_dashboard_english_120x40(snap_compare) -> None:
    assert snap_compare(night_app(lang="en"), terminal_size=(120, 40))


def test_incident_detail(snap_compare) -> None:
    # j six times: #1, the damaged ballot box in Banjarmasin (acknowledged, with a note); enter opens it
    assert snap_compare(night_app(), press=["j"] * 6 + ["enter"], terminal_size=(100, 40))


def test_help_screen(snap_compare) -> None:
    assert snap_compare(night_app(), press=["question_mark"], terminal_size=(100, 32))


def test_wall_mode(snap_compare) -> None:
    assert snap_compare(night_app(wall=True), terminal_size=(200, 60))


def test_wall_mode_for_a_viewer_token_at_80x24(snap_compare) -> None:
    assert snap_compare(night_app(role="viewer"), terminal_size=(80, 24))


def test_dashboard_with_the_map_160x48(snap_compare) -> None:
    assert snap_compare(night_app(), terminal_size=(160, 48))


def test_wall_with_the_map_220x60(snap_compare) -> None:
    assert snap_compare(night_app(wall=True), terminal_size=(220, 60))


def test_dashboard_map_toggled_on_at_120x40(snap_compare) -> None:
    assert snap_compare(night_app(), press=["m"], terminal_size=(120, 40))


def test_regency_detail_with_its_charts(snap_compare) -> None:
    # 0 focuses Tanah Bumbu (the tenth regency), d opens its detail
    assert snap_compare(night_app(), press=["0", "d"], terminal_size=(120, 40))


def test_a_polres_tanah_bumbu_officer_at_80x24(snap_compare) -> None:
    # A token scoped to 6310: the queue, its title and the bell keep to Tanah Bumbu; the other panels are quiet.
    assert snap_compare(night_app(regencies=["6310"]), terminal_size=(80, 24))
