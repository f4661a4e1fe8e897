"""The thin path end to end: hello, report, acknowledge, seen by a second client."""

from __future__ import annotations

from opsmon.client.session import Session
from opsmon.core.protocol import Ack, Batch, Event, IncidentDraft, Report, Snapshot
from tests.helpers import Running


async def test_report_and_acknowledge_reach_a_second_client(server: Running) -> None:
    officer = await Session.open(server.url, server.tokens["officer"])
    wall = await Session.open(server.url, server.tokens["wall"])
    try:
        assert isinstance(await wall.next_frame(), Snapshot)
        report = Report(id="r1", incident=IncidentDraft(regency="6371", category="logistik", severity="high", title="Kotak suara rusak"))
        result = await officer.request(report)
        assert result.ok and result.incident == 1 and result.seq == 1
        ack = await officer.request(Ack(id="a1", incident=1))
        assert ack.ok and ack.seq == 2
        seen: list[Event] = []
        while len(seen) < 2:
            frame = await wall.next_frame()
            seen += frame.events if isinstance(frame, Batch) else [frame] if isinstance(frame, Event) else []
        assert [e.kind for e in seen] == ["incident.reported", "incident.acknowledged"]
        assert seen[1].actor.agency == "Bawaslu"
    finally:
        await officer.close()
        await wall.close()
