"""The trainer's inject dialog: an incident sent now as a field desk (an admin token on an exercise server).

Offered in the command palette ("Inject insiden") to the trainer only. The
fields are those of `opsmon exercise inject`: desk, regency (code or name),
category and severity (key or label), title, location, detail. Enter moves to
the next field and sends from the last; a refusal stays in the dialog with
everything typed, as in the other dialogs.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from opsmon.client.failures import ClientError
from opsmon.client.handshake import new_command_id
from opsmon.core.commands import CommandError, command
from opsmon.core.i18n import Translator, translate_refusal
from opsmon.core.protocol import Report
from opsmon.core.records import AGENCIES, ConfigInfo
from opsmon.tui.commanding import CommandHost
from opsmon.tui.plain import plain
from opsmon.tui.screens.modals import _SendingModal

FIELDS = ("desk", "regency", "category", "severity", "title", "location", "detail")


def is_trainer(app: CommandHost) -> bool:
    """An admin token on an exercise server: the one seat that may inject."""
    welcome = app.welcome
    return welcome is not None and welcome.exercise is not None and welcome.user.role == "admin"


def _one(typed: str, choices: list[tuple[str, list[str]]]) -> str | None:
    """The key whose key or any name is `typed` (any case), else None."""
    wanted = typed.strip().casefold()
    return next((key for key, names in choices if wanted in {key.casefold(), *(n.casefold() for n in names)}), None)


class InjectModal(_SendingModal):
    """The inject's fields; dismisses with the incident id sent."""

    def __init__(self, tr: Translator, config: ConfigInfo, submit: Any) -> None:
        super().__init__(tr("inject.prompt"), tr, submit)
        self.config = config

    def compose(self) -> ComposeResult:
        tr, config = self.tr, self.config
        hints = {
            "desk": " / ".join(AGENCIES),
            "regency": ", ".join(f"{r.code} {r.short}" for r in config.regencies[:4]) + ", ...",
            "category": ", ".join(c.key for c in config.categories[:4]) + ", ...",
            "severity": ", ".join(s.key for s in config.severities),
        }
        with Vertical(id="dialog"):
            yield Label(plain(self.prompt), id="prompt")
            for name in FIELDS:
                hint = hints.get(name)
                yield Input(placeholder=tr(f"inject.{name}") + (f" ({hint})" if hint else ""), id=f"inject-{name}")
            yield Static("", id="error")
            yield Static(plain(tr("inject.hint")), id="hint")

    def on_mount(self) -> None:
        self.query_one("#inject-desk", Input).focus()

    def value(self, name: str) -> str:
        return self.query_one(f"#inject-{name}", Input).value.strip()

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        name = (event.input.id or "").removeprefix("inject-")
        if name != FIELDS[-1]:
            self.query_one(f"#inject-{FIELDS[FIELDS.index(name) + 1]}", Input).focus()
            return
        self._submit()

    def _wrong(self, name: str, key: str) -> None:
        self.error(self.tr(key))
        self.query_one(f"#inject-{name}", Input).focus()

    def _submit(self) -> None:
        config = self.config
        desk = _one(self.value("desk"), [(a, []) for a in AGENCIES])
        regency = _one(self.value("regency"), [(r.code, [r.short, r.name]) for r in config.regencies])
        category = _one(self.value("category"), [(c.key, [c.label.id, c.label.en]) for c in config.categories])
        severity = _one(self.value("severity"), [(s.key, [s.label.id, s.label.en]) for s in config.severities])
        title = self.value("title")
        for name, ok in (("desk", desk), ("regency", regency), ("category", category), ("severity", severity), ("title", 1 <= len(title) <= 200)):
            if not ok:
                self._wrong(name, f"inject.bad.{name}")
                return
        draft = {
            "regency": regency,
            "category": category,
            "severity": severity,
            "title": title,
            "location": self.value("location"),
            "detail": self.value("detail"),
        }
        try:
            report = command("report", new_command_id(), incident=draft, inject=True, desk=desk)
        except CommandError as exc:
            self.error(str(exc))
            return
        self.send(report.id, report)


def open_inject(app: CommandHost) -> None:
    """The palette's "Inject insiden": the dialog, whose send says how it went."""
    if not is_trainer(app) or app.lookup is None:
        app.say(app.tr("inject.trainer_only"), warning=True)
        return

    async def submit(report: Report) -> str | None:
        if app.connection is None:
            return app.tr("inject.offline")
        try:
            result = await app.connection.send(report)
        except ClientError as exc:
            return str(exc)
        if not result.ok:
            return translate_refusal(result, app.lang, app.tz)
        app.say(app.tr("inject.sent", id=result.incident, desk=report.desk))
        return None

    app.push_screen(InjectModal(app.tr, app.lookup.config, submit))
