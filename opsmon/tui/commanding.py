"""The officer's commands from the TUI: the dialogs that ask for them, sending
them (queued while offline, across reconnects), and saying how they went.

`Commander` works for any `CommandHost` (the app, opsmon.tui.app): it reads the
app's state and connection, opens its dialogs and runs its workers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import tzinfo
from functools import partial
from typing import Any, Protocol

from opsmon.client.connection import Connection
from opsmon.client.failures import ClientError
from opsmon.client.handshake import new_command_id
from opsmon.core.commands import command
from opsmon.core.i18n import CATALOG, Translator, local_time, translate_refusal, who
from opsmon.core.protocol import Command, Result, Welcome
from opsmon.core.records import SEVERITIES
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import urgency_key
from opsmon.core.view import Lookup
from opsmon.tui.screens.modals import HEADING, NoteModal, PickModal, SnoozeModal

# Conflicts whose reason says more than the incident's status does.
TRIAGE_CONFLICTS = frozenset({"not_snoozed", "not_acknowledged", "unchanged", "into_resolved"})


class CommandHost(Protocol):
    """What commanding needs of the app."""

    unanswered: int  # write commands sent and not yet answered
    connection: Connection | None
    tr: Translator
    lang: str
    welcome: Welcome | None
    lookup: Lookup | None
    state: State
    online: bool

    @property
    def tz(self) -> tzinfo: ...
    @property
    def is_wall(self) -> bool: ...

    def say(self, text: str, *, warning: bool = False, error: bool = False, timeout: float | None = None, replacing: object = None) -> None: ...
    def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
    def run_worker(self, work: Any, name: str | None = "", group: str = "default") -> Any: ...


class Commander:
    """Asks for, sends and reports on the officer's commands (one per incident)."""

    def __init__(self, app: CommandHost) -> None:
        self.app = app

    def _in_background(self, name: str, method: Callable[..., Any], *args: Any) -> None:
        """What @work(group="commands") does for an app method: the app runs it as a worker."""
        self.app.run_worker(partial(method, *args), name=name, group="commands")

    def _regency_names(self) -> dict[str, str]:
        """Code -> short name, so a refusal says "Tanah Bumbu", not 6310."""
        lookup = self.app.lookup
        return {r.code: lookup.regency_short(r.code) for r in lookup.config.regencies} if lookup is not None else {}

    def refusal(self, incident_id: int, result: Result, verb: str = "") -> str:
        """The server's refusal in the officer's language: from its reason and params
        (translated here), else from code, by and at; its English message last."""
        tr = self.app.tr
        message = result.message or result.code or "?"
        if result.reason is not None and f"reason.{result.reason}" in CATALOG and result.code != "conflict":
            return tr("refused.reason", id=incident_id, reason=translate_refusal(result, self.app.lang, self.app.tz, self._regency_names()))
        if result.code == "conflict" and (verb == "reopen" or result.status == "open"):
            # Only a resolved incident can be reopened: say what it is instead.
            return tr("refused.open", id=incident_id, status=tr("status." + (result.status or "open")))
        if result.code == "conflict":
            when = local_time(result.at, self.app.tz) if result.at else ""
            if result.status == "acknowledged":
                return tr("refused.acknowledged", id=incident_id, who=who(result.by), time=when)
            if result.status == "resolved":
                return tr("refused.resolved", id=incident_id, who=who(result.by), time=when)
        key = {
            "forbidden": "refused.forbidden",
            "not_found": "refused.not_found",
            "invalid": "refused.invalid",
            "rate_limited": "refused.rate_limited",
        }.get(result.code or "", "refused.other")
        return tr(key, id=incident_id, message=message)

    # --- sending -------------------------------------------------------------------------------

    async def _send(self, command: Command) -> Result | str:
        """A command's result, or why it has none. Waits across reconnects."""
        if self.app.connection is None:
            return "offline"
        self.app.unanswered += 1
        try:
            return await self.app.connection.send(command)
        except ClientError as exc:
            return str(exc)
        finally:
            self.app.unanswered -= 1

    def _outcome(self, verb: str, incident_id: int, answer: Result | str) -> bool:
        tr = self.app.tr
        if isinstance(answer, str):
            self.app.say(tr("refused.lost", id=incident_id, message=answer), error=True)
            return False
        if answer.ok:
            me = who(self.app.welcome.user.actor) if self.app.welcome else "?"
            self.app.say(tr("done." + verb, id=incident_id, who=me))
            return True
        self.app.say(self.refusal_text(incident_id, answer, verb), error=True)
        return False

    def _read_only_refusal(self) -> bool:
        if self.app.is_wall:
            self.app.say(self.app.tr("nothing.readonly"), warning=True)
            return True
        return False

    def acknowledge(self, incident_ids: list[int]) -> None:
        if self._read_only_refusal() or not incident_ids:
            return
        self._in_background("_acknowledge", self.carry_out, "ack", incident_ids, {})

    def ask(self, verb: str, incident_ids: int | list[int]) -> None:
        """escalate / note / resolve / reopen / unack: ask for the note and send it
        from the dialog (to every marked incident when given several), which stays
        open with the text if the server refuses it."""
        if self._read_only_refusal():
            return
        ids = [incident_ids] if isinstance(incident_ids, int) else list(incident_ids)
        if not ids:
            return
        prompts = {"escalate": "modal.escalate", "note": "modal.note", "resolve": "modal.resolve", "reopen": "modal.reopen", "unack": "modal.unack"}
        required = verb != "escalate"

        async def submit(text: str) -> str | None:
            return await self.carry_out(verb, ids, {"note": text})

        prompt = self.app.tr(prompts[verb], id=ids[0] if len(ids) == 1 else self._what(ids))
        self.app.push_screen(NoteModal(prompt, self.app.tr, required=required, send=submit))

    def _what(self, ids: list[int]) -> str:
        return self.app.tr("modal.what_one", id=ids[0]) if len(ids) == 1 else self.app.tr("modal.what_many", count=len(ids))

    # --- triage ---------------------------------------------------------------------------

    def snooze(self, ids: list[int]) -> None:
        if self._read_only_refusal() or not ids:
            return

        async def submit(minutes: int, note: str) -> str | None:
            return await self.carry_out("snooze", ids, {"minutes": minutes, "note": note})

        self.app.push_screen(SnoozeModal(self.app.tr("modal.snooze", what=self._what(ids)), self.app.tr, submit))

    def take(self, ids: list[int]) -> None:
        if self._read_only_refusal() or not ids:
            return
        self._in_background("_carry_out_in_background", self.carry_out, "take", ids, {})

    def assign(self, ids: list[int]) -> None:
        """Pick the owner among the people the server knows (its welcome's `people`):
        never free text, so no incident is owned by a name nobody answers to."""
        if self._read_only_refusal() or not ids:
            return
        welcome = self.app.welcome
        known = welcome.people if welcome is not None else None
        if not known:
            self.app.say(self.app.tr("modal.assign_none"), warning=True)
            return
        me = welcome.user.actor if welcome is not None else None
        # Their own agency's people first: the desk usually hands work within it.
        people = sorted(known, key=lambda p: (me is None or p.agency != me.agency, p.agency or "", p.name))
        options: list[tuple[Any, str]] = [((p.name, p.agency or ""), who(p)) for p in people]

        def chosen(person: tuple[str, str] | None) -> None:
            if person is not None:
                name, agency = person
                self._in_background("_carry_out_in_background", self.carry_out, "assign", ids, {"name": name, "agency": agency})

        self.app.push_screen(PickModal(self.app.tr("modal.assign", what=self._what(ids)), self.app.tr, options, preselect=False), chosen)

    def change_severity(self, incident_id: int) -> None:
        if self._read_only_refusal():
            return
        lookup = self.app.lookup
        options = [(key, f"{self.app.tr('sev.letter.' + key)}: {lookup.severity(key) if lookup else key}") for key in SEVERITIES]

        def chosen(severity: str | None) -> None:
            if severity is None:
                return

            async def submit(text: str) -> str | None:
                return await self.carry_out("severity", [incident_id], {"severity": severity, "note": text})

            label = lookup.severity(severity) if lookup else severity
            self.app.push_screen(NoteModal(self.app.tr("modal.severity_note", id=incident_id, severity=label), self.app.tr, required=True, send=submit))

        self.app.push_screen(PickModal(self.app.tr("modal.severity", id=incident_id), self.app.tr, options), chosen)

    def merge(self, incident_id: int) -> None:
        """Pick the incident it joins: every other unresolved one, its own regency's first
        (a duplicate is reported where it happened), then the others under a heading;
        most urgent first in each. Nothing is preselected: Enter alone merges nothing."""
        if self._read_only_refusal():
            return
        lookup = self.app.lookup
        source = self.app.state.incidents.get(incident_id)
        here = source.regency if source is not None else None
        targets = sorted(
            (i for i in self.app.state.incidents.values() if i.status != "resolved" and i.id != incident_id and i.merged_into is None),
            key=lambda i: (i.regency != here, urgency_key(i)),
        )
        if not targets:
            self.app.say(self.app.tr("modal.merge_none"), warning=True)
            return
        options: list[tuple[Any, str]] = []
        for n, i in enumerate(targets):
            if i.regency != here and (n == 0 or targets[n - 1].regency == here):
                options.append((HEADING, self.app.tr("modal.merge_same")))
            options.append((i.id, f"#{i.id} {lookup.regency_short(i.regency) if lookup else i.regency} · {for_terminal(i.title)}"))

        def chosen(into: int | None) -> None:
            if into is not None:
                self._in_background("_carry_out_in_background", self.carry_out, "merge", [incident_id], {"into": into})

        self.app.push_screen(PickModal(self.app.tr("modal.merge", id=incident_id), self.app.tr, options, preselect=False), chosen)

    def _command_for(self, verb: str, incident_id: int, values: dict[str, Any]) -> Command:
        """The dialogs' values as the verb's fields (opsmon.core.commands builds the command; the dialogs checked them)."""
        note = values.get("note", "")
        fields: dict[str, Any] = {"note": note}
        if verb == "ack":
            fields = {}
        elif verb == "escalate":
            fields = {"note": note or None}
        elif verb == "merge":
            fields = {"into": values["into"]}
        elif verb == "note":
            fields = {"text": note}
        elif verb == "snooze":
            fields["minutes"] = values["minutes"]
        elif verb == "severity":
            fields["severity"] = values["severity"]
        elif verb == "take":
            user = self.app.welcome.user if self.app.welcome is not None else None
            verb, fields = "assign", {"to": {"name": user.name, "agency": user.agency} if user else None}
        elif verb == "assign":
            fields = {"to": {"name": values["name"], "agency": values["agency"]}}
        return command(verb, new_command_id(), incident=incident_id, **fields)

    def refusal_text(self, incident_id: int, result: Result, verb: str) -> str:
        """`refusal`, and the triage conflicts (not snoozed, not acknowledged,
        unchanged, merge target resolved) said by their own reason."""
        if result.reason in TRIAGE_CONFLICTS:
            return self.app.tr("refused.reason", id=incident_id, reason=translate_refusal(result, self.app.lang, self.app.tz, self._regency_names()))
        return self.refusal(incident_id, result, verb)

    async def carry_out(self, verb: str, ids: list[int], values: dict[str, Any]) -> str | None:
        """Send one command per incident and say the outcome: each on its own for one
        incident, one summary (done, and what was refused with why) for several.
        Returns the refusal for a single incident (a dialog shows it), else None."""
        if not self.app.online:
            # Queued to go on reconnect, with their ids: the dialog need not wait.
            for incident_id in ids:
                self.app.say(self.app.tr("sending.offline", id=incident_id), warning=True)
            self._in_background("_deliver", self._deliver, verb, ids, [self._command_for(verb, i, values) for i in ids])
            return None
        answers = await asyncio.gather(*(self._send(self._command_for(verb, i, values)) for i in ids))
        return self._summary(verb, ids, answers)

    async def _deliver(self, verb: str, ids: list[int], commands: list[Command]) -> None:
        self._summary(verb, ids, await asyncio.gather(*(self._send(command) for command in commands)))

    def _summary(self, verb: str, ids: list[int], answers: list[Result | str]) -> str | None:
        if len(ids) == 1:
            answer = answers[0]
            if self._outcome(verb, ids[0], answer):
                return None
            return self.app.tr("refused.lost", id=ids[0], message=answer) if isinstance(answer, str) else self.refusal_text(ids[0], answer, verb)
        refused = []
        for incident_id, answer in zip(ids, answers, strict=True):
            if isinstance(answer, str):
                refused.append(f"#{incident_id} ({answer})")
            elif not answer.ok:
                refused.append(self.refusal_text(incident_id, answer, verb))
        ok = len(ids) - len(refused)
        label = self.app.tr("key." + {"severity": "change_severity"}.get(verb, verb))
        if verb == "ack" and not refused:
            self.app.say(self.app.tr("done.bulk", ok=ok, total=len(ids)))
        elif refused:
            self.app.say(self.app.tr("done.bulk_refused", verb=label, ok=ok, total=len(ids), refused="; ".join(refused)), warning=True, timeout=15)
        else:
            self.app.say(self.app.tr("done.bulk_all", verb=label, ok=ok, total=len(ids)))
        return None
