"""`cronui service install [--user] [--serve]`: the systemd unit the README shows, written, enabled and
started, and how to read its log.

The unit names what it runs explicitly: this cronui's own executable, the database in use now (so the
daemon schedules the jobs this shell sees), and a working directory (a job with no `cwd` runs there).
Secrets jobs reference as `${env:NAME}` go in an environment file the unit reads if it exists.
"""

from __future__ import annotations

import argparse
import getpass
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from cronui.cli.common import Commands, UsageError, group, say, settings_from

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
LISTEN = "127.0.0.1:8377"


def add_parsers(sub: Commands) -> None:
    ssub = group(sub, "service", "run cronui under systemd (install a unit)", dest="service_command")
    p = ssub.add_parser(
        "install",
        help="write the systemd unit, enable and start it",
        description="Write a systemd unit that runs cronui headless (or `cronui serve` with --serve), "
        "then `systemctl enable --now` it and say how to read its log.",
    )
    p.set_defaults(handler=cmd_install)
    p.add_argument("--user", action="store_true", help="a user unit (~/.config/systemd/user): no root needed")
    p.add_argument("--serve", action="store_true", help=f"run the HTTP API too (`cronui serve --listen {LISTEN}`)")
    p.add_argument("--force", action="store_true", help="replace a unit of the same name that differs")


def _executable() -> list[str]:
    """This cronui, by absolute path (systemd does not search PATH the way a shell does)."""
    here = Path(sys.argv[0]).absolute() if sys.argv and sys.argv[0] else None  # as invoked: ~/.local/bin/cronui
    beside = Path(sys.executable).parent / "cronui"  # the entry point of this very install (a venv's)
    found = shutil.which("cronui")
    for candidate in (here, beside, Path(found) if found else None):
        if candidate is not None and candidate.name == "cronui" and candidate.is_file():
            return [str(candidate.absolute())]
    return [sys.executable, "-m", "cronui"]


def unit_text(*, user: bool, serve: bool, db: str, config: str | None, account: str, home: str) -> str:
    command = _executable()
    if config:
        command += ["--config", config]
    command += ["--db", db]
    command += ["serve", "--listen", LISTEN] if serve else ["--no-ui"]
    secrets = "%h/.config/cronui/secrets.env" if user else str(Path(home) / ".config" / "cronui" / "secrets.env")
    lines = [
        "[Unit]",
        f"Description=cronui scheduler{' and HTTP API' if serve else ''}",
        "",
        "[Service]",
        f"ExecStart={shlex.join(command)}",
        *([] if user else [f"User={account}"]),
        f"WorkingDirectory={'%h' if user else home}",
        "# API keys and secrets that jobs reference as ${env:NAME}"
        + (" (and CRONUI_API_TOKEN=...)" if serve else "")
        + "; '-': the file may be missing",
        f"EnvironmentFile=-{secrets}",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=45",
        "",
        "[Install]",
        f"WantedBy={'default.target' if user else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


def _account() -> tuple[str, str]:
    """Who the unit runs as, and their home: the user behind sudo, else this one."""
    name = os.environ.get("SUDO_USER") or getpass.getuser()
    try:
        home = pwd.getpwnam(name).pw_dir
    except KeyError:
        home = str(Path.home())
    return name, home


def cmd_install(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    name = "cronui-api" if args.serve else "cronui"
    account, home = _account()
    if args.user:
        unit_dir = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"
    else:
        unit_dir = SYSTEM_UNIT_DIR
    db = settings.db if "://" in settings.db else str(Path(settings.db).expanduser().resolve())
    config = str(Path(args.config).expanduser().resolve()) if args.config else None
    text = unit_text(user=args.user, serve=args.serve, db=db, config=config, account=account, home=home)
    path = unit_dir / f"{name}.service"
    if path.exists() and path.read_text() != text and not args.force:
        raise UsageError(f"cronui: {path} exists and differs: --force replaces it")
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except PermissionError:
        raise UsageError(f"cronui: cannot write {path}: run it as root (sudo), or pass --user") from None
    say(f"wrote {path}")
    scope = ["--user"] if args.user else []
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        say(f"systemctl is not on PATH: start it with `systemctl {' '.join([*scope, 'enable', '--now', name])}`")
        return 1
    for step in (["daemon-reload"], ["enable", "--now", name]):
        done = subprocess.run([systemctl, *scope, *step], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()
            said = reason[-1] if reason else f"exit {done.returncode}"
            print(f"cronui: systemctl {' '.join([*scope, *step])} failed: {said}", file=sys.stderr)
            print(
                f"cronui: {path} is written; start it with `systemctl {' '.join([*scope, 'enable', '--now', name])}`"
                " where systemd runs",
                file=sys.stderr,
            )
            return 1
    user_flag = "--user " if args.user else ""
    say(f"enabled and started {name}.service ({'your user' if args.user else 'the system'}'s systemd)")
    say(f"its log:    journalctl {user_flag}-u {name} -f")
    say(f"its state:  systemctl {user_flag}status {name}")
    say(f"secrets:    {'~/.config/cronui/secrets.env' if args.user else Path(home) / '.config/cronui/secrets.env'}")
    if args.user:
        say(f"to keep it running while you are logged out: loginctl enable-linger {account}")
    return 0
