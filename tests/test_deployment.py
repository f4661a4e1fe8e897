"""The docs' "Deploying for a real night" (docs/deploy.md), run as written
(issue 14 item 7, issue 7 item 10).

Every `sh` block of the page is read out of docs/deploy.md and run line by
line with bash, as root, as the section says; the systemd unit's ExecStart
is run as its User= in its WorkingDirectory=. The only changes are the ones
a test must make: the absolute paths (/etc/opsmon, /var/lib/opsmon,
/opt/opsmon) live under a temporary folder, /path/to/opsmon is this tree,
the post's address is 127.0.0.1, and a free port replaces 8765 (set in the
copied config). The interactive screens (`opsmon --url ...` without a
subcommand) need a terminal and are left out; the officer connects through
the `opsmon report` line of section 4, with the token file the section
describes. The service user `opsmon` is created by the section's own
`useradd` if the machine lacks it, and removed again afterwards.
"""

from __future__ import annotations

import csv
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsmon.cli import main
from opsmon.core.config import config_relative, load_config
from opsmon.core.exits import EXIT_UNAUTHORIZED, EXIT_USAGE
from tests.helpers import ROOT, free_port
from tests.installed import need_root, open_folder
from tests.processes import opsmon_server as cli
from tests.processes import server_process
from tests.server_thread import server_in_thread

pytestmark = pytest.mark.slow

DEPLOY = ROOT / "docs" / "deploy.md"
SERVICE_USER = "opsmon"


def blocks(text: str, lang: str) -> list[list[str]]:
    """The lines of every fenced block of this language, comments and blanks dropped."""
    found = re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)
    return [[line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")] for block in found]


def unit(text: str) -> dict[str, str]:
    [ini] = re.findall(r"^```ini\n(.*?)^```", text, flags=re.S | re.M)
    return dict(line.split("=", 1) for line in ini.splitlines() if "=" in line and not line.startswith("#"))


class Deployment:
    def __init__(self, place: Path, port: int) -> None:
        self.place, self.port = place, port
        self.home = place / "home"
        self.home.mkdir()

    def localize(self, line: str) -> str:
        for path in ("/etc/opsmon", "/var/lib/opsmon", "/opt/opsmon"):
            line = line.replace(path, f"{self.place}{path}")
        line = line.replace("/path/to/opsmon", str(ROOT))
        return line.replace("posko.example:8765", f"127.0.0.1:{self.port}").replace("127.0.0.1:8765", f"127.0.0.1:{self.port}")

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.localize(line)],
            capture_output=True, text=True, timeout=600, cwd=self.place,
            env={"PATH": f"{self.place}/opt/opsmon/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"},
        )  # fmt: skip
        assert done.returncode == 0, f"docs/deploy.md line failed: {line}\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture
def service_user() -> Iterator[bool]:
    """Whether the test made the user (then it removes it)."""
    need_root()
    try:
        pwd.getpwnam(SERVICE_USER)
        existed = True
    except KeyError:
        existed = False
    yield not existed
    if not existed:
        subprocess.run(["userdel", SERVICE_USER], capture_output=True, check=False)


@pytest.fixture
def place() -> Iterator[Path]:
    folder = open_folder("opsmon-deploy-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_deployment_section_runs_as_written_and_an_officer_connects(service_user: bool, place: Path) -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    install, tokens, health, record, officer = blocks(text, "sh")[:5]
    deployment = Deployment(place, free_port())

    # 1. Install and configure.
    for line in install:
        if line.startswith("useradd") and not service_user:
            continue  # the machine already has the user
        deployment.run(line)
    config = place / "etc/opsmon/config.toml"
    assert 'host = "0.0.0.0"' in config.read_text() and f'database = "{place}/var/lib/opsmon/opsmon.db"' in config.read_text()
    # What the server writes by itself (backups, situation reports) lands in the service user's folder, not root's /etc/opsmon.
    settings = load_config(config)
    for folder in (Path(config_relative(settings, settings.server.backup_dir)), settings.sitrep_folder()):
        assert folder.parent == place / "var/lib/opsmon", folder
        made = subprocess.run(
            ["bash", "-c", f"mkdir -p {folder} && touch {folder}/probe && rm {folder}/probe"], user=SERVICE_USER, capture_output=True, text=True
        )
        assert made.returncode == 0, f"the service user cannot write {folder}: {made.stderr}"
    config.write_text(config.read_text().replace("port = 8765", f"port = {deployment.port}", 1))

    # 2. Tokens, as the service user: the database they make is the service user's.
    secrets: dict[str, str] = {}
    for line in tokens:
        done = deployment.run(line)
        added = re.search(r'token add "([^"]+)"', line)
        if added:
            secrets[added.group(1)] = done.stdout.strip().splitlines()[-1]
    database = place / "var/lib/opsmon/opsmon.db"
    assert database.owner() == SERVICE_USER
    assert "Banjarmasin PPK" in secrets

    # 3. The service, as its unit says.
    service = unit(text)
    command = deployment.localize(service["ExecStart"]).split()
    user = pwd.getpwnam(service["User"])
    # As systemd starts it: the unit's user and group, no other groups, SIGTERM to stop it.
    server = subprocess.Popen(
        command, user=user.pw_uid, group=user.pw_gid, extra_groups=[],
        cwd=deployment.localize(service["WorkingDirectory"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        started = server.stdout.readline()
        assert "listening on ws://0.0.0.0:" in started, started + (server.stderr.read() if server.poll() is not None else "")  # type: ignore[union-attr]
        assert f"database {database}" in started and " token" in started and "0 tokens" not in started, started
        for line in health:
            for _ in range(50):
                checked = subprocess.run(["bash", "-c", deployment.localize(line)], capture_output=True, text=True, timeout=10)
                if checked.returncode == 0 and '"status": "ok"' in checked.stdout:
                    break
                time.sleep(0.1)
            assert '"status": "ok"' in checked.stdout, checked.stdout + checked.stderr

        # The post's record, while it serves.
        for line in record:
            deployment.run(line)
        assert next(csv.reader((place / "malam.csv").open(newline="")))[0] == "seq"  # the CSV's header row

        # 4. An officer: the token in the file the section names, then its lines.
        token_file = deployment.home / ".config/opsmon/token"
        token_file.parent.mkdir(parents=True)
        token_file.write_text(secrets["Banjarmasin PPK"] + "\n")
        token_file.chmod(0o600)
        ran = 0
        for line in officer:
            if re.match(r"opsmon --url \S+(\s+--wall)?(\s|$)", line):
                continue  # the screens need a terminal
            done = deployment.run(line)
            ran += 1
            if line.startswith("opsmon report"):
                assert done.stdout.strip().isdigit(), done.stdout  # the new incident's id
        assert ran >= 1
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    assert "Traceback" not in err


def test_the_token_comes_from_a_file_or_the_environment_never_needing_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPSMON_TOKEN", raising=False)
    with server_in_thread(tmp_path) as live:
        args = ["report", "--url", live.url, "--regency", "6371", "--category", "logistik", "--severity", "low", "--title", "Uji coba"]
        token_file = tmp_path / "token"
        token_file.write_text("\n" + live.tokens["officer"] + "\n")
        assert main([*args, "--token-file", str(token_file)]) == 0
        assert capsys.readouterr().out.strip() == "1"
        monkeypatch.setenv("OPSMON_TOKEN", live.tokens["bjm"])
        assert main(args) == 0  # from the environment
        assert capsys.readouterr().out.strip() == "2"
        # --token-file wins over the environment, --token over both.
        token_file.write_text("ops_not-a-real-token\n")
        assert main([*args, "--token-file", str(token_file)]) == EXIT_UNAUTHORIZED
        capsys.readouterr()
        assert main([*args, "--token-file", str(token_file), "--token", live.tokens["officer"]]) == 0
        capsys.readouterr()
        token_file.write_text("\n \n")
        assert main([*args, "--token-file", str(token_file)]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert "the token file" in err and "is empty" in err, err
        assert main([*args, "--token-file", str(tmp_path / "missing")]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert "cannot read the token file" in err and "missing" in err and len(err.strip().splitlines()) == 1


async def test_serve_says_how_many_tokens_it_knows(tmp_path: Path) -> None:
    """A server whose database has no token says so, and how to add one."""
    async with server_process(tmp_path / "opsmon.db") as proc:
        assert "0 tokens)" in proc.output[0]
        code, out, err = await proc.stop()
    assert "0 tokens: add one with opsmon-server token add" in err, err
    token = cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(tmp_path / "opsmon.db"))
    assert token.returncode == 0
    async with server_process(tmp_path / "opsmon.db") as proc:
        assert "1 token)" in proc.output[0]
