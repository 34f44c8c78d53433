"""What the end-to-end tier's tests share: cronui run as a separate process (one-shot commands, and
long-lived ones with their output in a log file, killed at the end of the test), the database read from
outside, and bounded waits for a condition."""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cronui.store import lockholder


def cronui(env: Mapping[str, str], *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m cronui ARGV`, to its end; with check, a non-zero exit fails the test with its stderr."""
    res = subprocess.run(
        [sys.executable, "-m", "cronui", *argv], env=dict(env), capture_output=True, text=True, timeout=60
    )
    if check and res.returncode != 0:
        raise AssertionError(f"cronui {' '.join(argv)} -> {res.returncode}: {res.stderr}")
    return res


class Processes:
    """Long-lived cronui processes of one test, each with its output in `<name><n>.log` under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen[str]] = []

    def spawn(self, *argv: str, env: Mapping[str, str], name: str = "proc") -> subprocess.Popen[str]:
        log = open(self.folder / f"{name}{len(self.started)}.log", "w")
        p = subprocess.Popen(
            [sys.executable, "-m", "cronui", *argv], env=dict(env), stdout=log, stderr=subprocess.STDOUT, text=True
        )
        p.log_path = log.name  # type: ignore[attr-defined]
        self.started.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.started:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGCONT)  # a test may have frozen it
                p.kill()
                p.wait()


def query(db: Mapping[str, str] | str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a SQLite database, named by its path or by an environment's CRONUI_DB."""
    path = db if isinstance(db, str) else db["CRONUI_DB"]
    con = sqlite3.connect(path, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def wait_for(pred: Callable[[], bool], timeout: float = 20.0, what: str = "", poll: float = 0.05) -> None:
    """Until `pred()` holds (a database busy meanwhile is asked again), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except sqlite3.OperationalError:
            pass
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def stop_at(proc: subprocess.Popen[str], db: str, *, inside_write: bool, timeout: float = 60.0) -> int:
    """Stop `proc` (SIGSTOP) at a moment it holds the SQLite file's write lock (`inside_write`) or does not,
    continuing and stopping it again until it is so; the number of tries it took."""
    deadline = time.monotonic() + timeout
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        if proc.poll() is not None:
            raise AssertionError(f"pid {proc.pid} ended (exit code {proc.returncode}) before it could be stopped so")
        proc.send_signal(signal.SIGSTOP)
        while lockholder.process_state(proc.pid) not in ("T", "Z", None) and time.monotonic() < deadline:
            time.sleep(0.0005)
        if (lockholder.write_lock_holder(db) == proc.pid) == inside_write:
            return tries
        proc.send_signal(signal.SIGCONT)
        time.sleep(random.uniform(0.0, 0.01))
    raise AssertionError(f"could not stop pid {proc.pid} {'inside' if inside_write else 'outside'} a write")


def lease_pid(env: Mapping[str, str]) -> int | None:
    rows = query(env, "SELECT pid FROM scheduler_lease")
    return rows[0][0] if rows else None


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A throwaway PostgreSQL server of one test's own (initdb into a temporary folder, on a free port), for
    what must not happen to a shared server: restarting it. Run as the `postgres` OS user when this
    process is root (the server refuses to run as root)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cronui-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def missing() -> str | None:
        """Why a private server cannot be made here (None: it can)."""
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                return f"{PG_BIN / tool} is not installed"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no `postgres` user to run the server as"
        return None

    def _run(self, *argv: str, timeout: float = 60) -> None:
        cmd = [str(PG_BIN / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{' '.join(argv[:2])} -> {res.returncode}: {res.stderr}{log[-2000:]}")

    def start(self) -> None:
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.folder, "postgres")
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
