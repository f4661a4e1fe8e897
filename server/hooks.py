"""Acknowledge from where you are (issue 25 item 4): a chat bot or an SMS
gateway acknowledges or notes an incident on behalf of a known person.

    GET /notify/ack?incident=12&person=AKP%20Budi
    GET /notify/ack?incident=12&person=AKP%20Budi&note=Sudah%20di%20lokasi
    Authorization: Bearer <an opsmon officer token, one per gateway>

GET, on the server's own port: the websocket server's HTTP parser takes GET
requests only (websockets answers any other method 405). The token is an
opsmon token (`opsmon-server token add bot-telegram --role officer ...`):
its name is the channel the audit line names, its regencies limit what it
may act on. The person must be in [[people]] and their `regencies` must
hold the incident's. Every refusal writes nothing and answers one JSON line
with `ok: false`, a `code` and a `message`; a bad token counts against the
address's failed hellos like a bad websocket hello.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from opsmon.core.domain import Decision, DomainError, decide
from opsmon.core.protocol import Ack, Note
from opsmon.core.records import TEXT_MAX, Actor
from opsmon.core.state import State
from opsmon.core.text import forbidden_characters
from server.auth import identify
from server.connections import peer_address
from server.store.api import Transaction

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")

ACK_PATH = "/notify/ack"
_STATUS = {
    "invalid": HTTPStatus.BAD_REQUEST,
    "unauthorized": HTTPStatus.UNAUTHORIZED,
    "forbidden": HTTPStatus.FORBIDDEN,
    "not_found": HTTPStatus.NOT_FOUND,
    "conflict": HTTPStatus.CONFLICT,
    "unavailable": HTTPStatus.SERVICE_UNAVAILABLE,
}


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _answer(connection: ServerConnection, status: HTTPStatus, body: dict[str, Any]) -> Response:
    response = connection.respond(status, json.dumps(body, ensure_ascii=False) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


class Hooks:
    """GET /notify/ack: an acknowledgement or a note from outside, on behalf of a person."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server

    async def respond(self, connection: ServerConnection, request: Request) -> Response:
        address = peer_address(connection)
        try:
            return await self._respond(connection, request, address)
        except Refused as refused:
            log.info("refused %s from %s: %s", ACK_PATH, address, refused.message)
            self.server.metrics.error(refused.code)
            return _answer(connection, _STATUS.get(refused.code, HTTPStatus.BAD_REQUEST), {"ok": False, "code": refused.code, "message": refused.message})

    async def _respond(self, connection: ServerConnection, request: Request, address: str) -> Response:
        connections = self.server.connections
        if connections.hello_wait(address) > 0:
            raise Refused("unauthorized", "too many failed attempts from this address; try again later")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query, keep_blank_values=True)
        fields = {key: values[-1] for key, values in query.items()}
        unknown = sorted(set(fields) - {"incident", "person", "note"})
        if unknown:
            raise Refused("invalid", f"unknown parameter {unknown[0]!r} (incident, person, note)")
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            connections.hello_failed(address)
            raise Refused("unauthorized", "send the gateway's opsmon token as Authorization: Bearer TOKEN")
        found = await identify(self.server.store, token.strip(), self.server.wall_clock(), self.server.config.province.tz)
        if found.user is None:
            connections.hello_failed(address)
            raise Refused("unauthorized", found.refusal)
        gateway = found.user
        if not gateway.may_act():
            raise Refused("forbidden", f"this {gateway.role} token may only read")
        try:
            incident_id = int(fields.get("incident", ""))
        except ValueError:
            raise Refused("invalid", "incident: must be an incident number, e.g. incident=12") from None
        name = fields.get("person", "").strip()
        person = self.server.rules.escalation.people.get(name)
        if person is None:
            raise Refused("forbidden", f"person: {name!r} is not in [[people]]" if name else "person: missing (a name from [[people]])")
        note = fields.get("note", "")
        if note and (forbidden_characters(note) or len(note) > TEXT_MAX):
            raise Refused("invalid", f"note: must be printable text of at most {TEXT_MAX} characters")
        incident = self.server.state.incidents.get(incident_id)
        if incident is None:
            raise Refused("not_found", f"no incident {incident_id}")
        if not person.covers(incident.regency):
            raise Refused("forbidden", f"{person.name} may act only on regencies {', '.join(person.regencies)}, not {incident.regency}")
        command: Ack | Note = Note(id="hook", incident=incident_id, text=note) if note else Ack(id="hook", incident=incident_id)
        actor = Actor(name=person.name, agency=person.agency)
        refusal: list[DomainError] = []

        async def plan(state: State, _batch: Transaction) -> tuple[list[Decision], list[int]]:
            # Decided on the latest state, under the write lock (replicas: with the others' commits folded in).
            try:
                decision = decide(state, command, actor, gateway.regencies, self.server.clock(), self.server.rules)
            except DomainError as exc:
                refusal.append(exc)
                return [], []
            return [Decision(decision.payload, decision.regency, actor=actor)], []

        async with self.server.lock:
            events = await self.server.writer.write([], planner=plan)
        verb = "note" if note else "ack"
        if refusal:
            raise Refused(refusal[0].code, refusal[0].message)
        if not events:
            raise Refused("unavailable", self.server.problem or "the server could not save this; nothing was changed, send it again")
        seq = events[-1].seq
        log.info(
            "command by %s (%s, via %s from %s): %s incident #%s (regency %s) -> ok, seq %d",
            person.name, person.agency, gateway.name, address, verb, incident_id, incident.regency, seq,
            extra={"audit": {"who": person.name, "agency": person.agency, "channel": gateway.name, "token": gateway.name, "command": verb, "incident": incident_id, "regency": incident.regency, "outcome": "ok", "seq": seq}},
        )  # fmt: skip
        return _answer(connection, HTTPStatus.OK, {"ok": True, "seq": seq, "incident": incident_id, "by": person.name})
