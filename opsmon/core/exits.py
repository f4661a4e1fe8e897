"""Exit codes of every `opsmon` command, and the error that carries one.

The TUI, the demo, `opsmon web`, `opsmon sitrep` and the feeders all exit
with these codes (documented in `opsmon --help`), so a script can act on them.
Nothing here imports anything: every layer may use it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # something else went wrong (e.g. the TUI is not installed)
EXIT_USAGE = 2  # bad arguments, bad config, or a value the config does not know
EXIT_REFUSED = 3  # the server answered and refused (forbidden, not_found, invalid, conflict); import: some lines rejected
EXIT_UNREACHABLE = 4  # no server at the URL, or the connection was lost before an answer
EXIT_UNAUTHORIZED = 5  # the server refused the token (unknown or revoked)
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit codes:
  0  done (import: every line accepted or already imported)
  1  other failure
  2  usage: bad arguments, unreadable config, a URL that is not ws:// or wss://, or a regency/stage/category/severity the config does not know
  3  refused by the server (its reason is printed); import: at least one line rejected
  4  server unreachable, or the connection was lost before an answer
  5  token refused by the server (unknown or revoked)
  130 interrupted (ctrl+c)"""


class FeedError(Exception):
    """Why a command stops: one line for stderr, and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
