"""`opsmon notify test PERSON`: the IT officer's check before the night, from their own
machine (issue 25 item 7).

The channels' URLs are secrets kept on the server (`channels_file`), so the client
asks the server (`notify_test`, an admin token): it sends one test message to each of
the person's channels, the way `opsmon-server notify test` does, and answers with what
each channel said. One line per channel here; `--json` prints the server's answer.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import msgspec

from opsmon.client.failures import ClientError
from opsmon.client.handshake import new_command_id
from opsmon.client.session import Session
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.i18n import Translator, translate_refusal
from opsmon.core.protocol import NotifyTest, Result
from opsmon.core.text import for_terminal

# The server answers once every channel has answered or timed out ([notify] timeout_seconds,
# twice, and a margin); this waits longer than a slow channel's bound.
ANSWER_SECONDS = 120.0
PERSON_MAX = 100  # as the protocol's PersonName


def add_parser(commands: Any, feeder: Any) -> None:
    notify = commands.add_parser(
        "notify",
        help="notifications: `opsmon notify test PERSON` sends a test message to each of their channels",
        description="Notifications to the people in [[people]] (their channels are kept on the server).",
    )
    what = notify.add_subparsers(dest="notify_command", metavar="COMMAND", required=True)
    test = feeder(
        what,
        "test",
        "send a test message to each of PERSON's channels (an admin token) and print what each channel answered",
        "The server sends one test message to each channel of PERSON (a name in [[people]]) and says what each channel "
        "answered: the IT officer's check before the night. Nothing is written to the log. Exit 0 when every channel "
        "took it, 1 when one failed.",
    )
    test.add_argument("person", metavar="PERSON", help='a name in [[people]], e.g. "AKBP Candra"')


def lines(result: Result, person: str, lang: str) -> list[str]:
    """One line per channel, in `lang`: its line, its scheme and what it said."""
    tr = Translator(lang)
    return [
        tr(
            "notify.test_ok" if c.ok else "notify.test_failed",
            person=for_terminal(person),
            channel=c.channel,
            scheme=for_terminal(c.scheme),
            answer=for_terminal(c.answer),
        )
        for c in result.channels or []
    ]


async def run(args: argparse.Namespace, config: Config, session: Session) -> int:
    lang = getattr(args, "lang", None) or "en"
    person = args.person.strip()
    if not person or len(person) > PERSON_MAX:
        raise FeedError(f"PERSON: a name in [[people]] of 1-{PERSON_MAX} characters", EXIT_USAGE)
    try:
        result = await session.request(NotifyTest(id=new_command_id(), person=person), timeout=ANSWER_SECONDS)
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    if args.json:
        print(json.dumps(msgspec.to_builtins(result), ensure_ascii=False))
    if not result.ok:
        raise FeedError(translate_refusal(result, lang, config.province.tz), EXIT_REFUSED)
    if not args.json:
        print("\n".join(lines(result, person, lang)))
    return EXIT_OK if all(c.ok for c in result.channels or []) else EXIT_FAILED
