"""Secrets never appear: a real daemon runs jobs that echo a `${env:}` secret, send it in headers and a
URL, follow a redirect to another origin (served here on loopback) and deliver to a webhook whose URL holds
a second secret. Then the database file, its WAL, the daemon's stdout and stderr and every CLI output are
searched for both values."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.processes import cronui, query, wait_for

SECRET = "e2e-Secr3t-5d8f1c0a"
HOOK_SECRET = "hook-Secr3t-77aa01"
MASK = "••••••••"


class Origin(ThreadingHTTPServer):
    """Records every request; redirects all of them to `redirect_to` when set, else answers 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.redirect_to: str | None = None
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Origin

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def origins() -> Iterator[tuple[Origin, Origin]]:
    a, b = Origin(), Origin()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (a, b)]
    for t in threads:
        t.start()
    yield a, b
    for s in (a, b):
        s.shutdown()
        s.server_close()


def count(text: str | bytes) -> int:
    if isinstance(text, bytes):
        return sum(text.count(s.encode()) for s in (SECRET, HOOK_SECRET))
    return sum(text.count(s) for s in (SECRET, HOOK_SECRET))


def test_a_secret_appears_nowhere(env: dict[str, str], tmp_path: Path, origins: tuple[Origin, Origin]):
    a, b = origins
    a.redirect_to = f"{b.url}/landing"
    env.update(E2E_SECRET=SECRET, E2E_HOOK=f"{b.url}/hook?k={HOOK_SECRET}")
    echo = (
        'echo "token $TOKEN"; echo "::milestone got key=$TOKEN::"; echo "err $TOKEN" >&2; '
        'printf "split %s" "${TOKEN%??????????}"; sleep 0.4; printf "%s\\n" "${TOKEN#?????????}"'
    )
    cronui(env, "jobs", "add", "echoer", "--schedule", "@yearly", "--shell", echo, "--env", "TOKEN=${env:E2E_SECRET}")
    cronui(
        env,
        *("jobs", "add", "caller", "--schedule", "@yearly", "--http", a.url + "/api?token=${env:E2E_SECRET}"),
        *("--header", "X-Api-Key: ${env:E2E_SECRET}", "--header", "Authorization: Bearer ${env:E2E_SECRET}"),
        *("--deliver-to", "${env:E2E_HOOK}", "--deliver", "always", "--deliver-format", "json"),
    )
    out, err = open(tmp_path / "daemon.out", "w"), open(tmp_path / "daemon.err", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "cronui", "daemon"], env=env, stdout=out, stderr=err)
    tails = [
        subprocess.Popen(
            [sys.executable, "-m", "cronui", "runs", "tail", *flag],
            env=env,
            stdout=open(tmp_path / f"tail{i}.out", "w"),
            stderr=subprocess.STDOUT,
        )
        for i, flag in enumerate([(), ("--json",)])
    ]
    try:
        wait_for(lambda: query(env, "SELECT pid FROM scheduler_lease") == [(daemon.pid,)], what="the lease")
        cronui(env, "jobs", "run", "echoer")
        cronui(env, "jobs", "run", "caller")
        wait_for(
            lambda: (
                query(env, "SELECT COUNT(*) FROM runs WHERE status != 'running' AND status != 'pending'")[0][0] == 2
                and query(env, "SELECT delivery_status FROM runs WHERE delivery_status IS NOT NULL") == [("delivered",)]
            ),
            what="both runs and the delivery",
        )
        runs = [r[0] for r in query(env, "SELECT id FROM runs ORDER BY id")]
        outputs: dict[str, str] = {}
        for rid in runs:
            for argv in (("runs", "show", str(rid)), ("runs", "show", str(rid), "--json"), ("runs", "logs", str(rid))):
                res = cronui(env, *argv)
                outputs[" ".join(argv)] = res.stdout + res.stderr
        for argv in (("runs", "list", "--json"), ("runs", "list"), ("export",)):
            res = cronui(env, *argv, check=False)
            outputs[" ".join(argv)] = res.stdout + res.stderr
        wal = Path(env["CRONUI_DB"] + "-wal")
        wal_while_running = wal.read_bytes() if wal.exists() else b""
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        for t in tails:
            t.terminate()
            t.wait(timeout=10)
    sources: dict[str, int] = {name: count(text) for name, text in outputs.items()}
    sources["database file"] = count(Path(env["CRONUI_DB"]).read_bytes())
    sources["WAL (daemon running)"] = count(wal_while_running)
    sources["WAL (after stop)"] = count(wal.read_bytes()) if wal.exists() else 0
    for name in ("daemon.out", "daemon.err", "tail0.out", "tail1.out"):
        sources[name] = count((tmp_path / name).read_text())
    landing = [h for _, path, h in b.seen if path == "/landing"]
    sources["the other origin (the redirected request's headers)"] = count(json.dumps(landing))
    print("occurrences of the secrets:", json.dumps(sources, indent=1))
    assert sum(sources.values()) == 0, sources

    # the secrets did go where they belong, and were masked (not dropped) wherever they were shown
    assert a.seen[0][2]["x-api-key"] == SECRET and a.seen[0][1] == f"/api?token={SECRET}"
    hook = [path for _, path, _ in b.seen if path.startswith("/hook")]
    assert len(landing) == 1  # the redirect was followed
    assert hook == [f"/hook?k={HOOK_SECRET}"]
    echoer = outputs[f"runs logs {runs[0]}"]
    assert f"token {MASK}" in echoer and f"split {MASK}" in echoer
    assert f"got key={MASK}" in outputs[f"runs show {runs[0]}"]
    assert "redirect-headers-dropped" in outputs[f"runs show {runs[1]}"]
    assert MASK in (tmp_path / "tail0.out").read_text()
    assert "HTTP Request" not in (tmp_path / "daemon.err").read_text()


DB_SECRET = "db-Secr3t-90c2e1"
QUERY_SECRET = "qs-Secr3t-4b71d3"


@pytest.fixture
def pg_env(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The e2e environment on a fresh PostgreSQL schema, reached with a password in the URL's user part (the
    test server trusts local connections, so any password is accepted)."""
    import asyncio

    from tests.store.backends import drop_schema, postgres_url

    url = asyncio.run(postgres_url())  # skips (or fails in CI) without a server
    user_part = url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_SECRET}@", 1)
    assert DB_SECRET in user_part, "the test server's URL names no `postgres@` user to give a password to"
    yield {**env, "CRONUI_DB": user_part}
    asyncio.run(drop_schema(url))


def db_secrets(text: str) -> int:
    return text.count(DB_SECRET) + text.count(QUERY_SECRET)


def test_a_database_password_appears_nowhere(pg_env: dict[str, str], tmp_path: Path) -> None:
    """A password written in the database URL — in its user part (CRONUI_DB) or as `?password=` (--db) — is
    shown as *** by the daemon's lines and log, status, status --json, locate db, nodes, the stores' errors
    (a server that refuses, a URL asyncpg cannot read, a backup hint): every output is searched for it."""
    env = pg_env
    query_form = env["CRONUI_DB"].replace(f":{DB_SECRET}@", "@", 1) + f"&password={QUERY_SECRET}"
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "true")
    log = open(tmp_path / "daemon.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "cronui", "daemon"], env=env, stdout=log, stderr=log)
    outputs: dict[str, str] = {}
    try:
        wait_for(lambda: '"state": "acquired"' in (tmp_path / "daemon.log").read_text(), what="the node to schedule")
        for argv in (
            ("status",),
            ("status", "--json"),
            ("locate", "db"),
            ("nodes",),
            ("nodes", "--json"),
            ("jobs", "list"),
            ("db", "check"),
            ("db", "backup", str(tmp_path / "b.sql")),
            ("--db", query_form, "status"),
            ("--db", query_form, "status", "--json"),
            ("--db", query_form, "locate", "db"),
            ("--db", query_form.replace(":5432/", ":1/", 1), "jobs", "list"),  # nothing listens there
            ("--db", f"postgresql://u:{DB_SECRET}@127.0.0.1:notaport/x", "jobs", "list"),
            ("--db", f"postgresql://u:{DB_SECRET}@[::1/x", "jobs", "list"),
        ):
            res = cronui(env, *argv, check=False)
            outputs[" ".join(argv).replace(DB_SECRET, "PW").replace(QUERY_SECRET, "PW")] = res.stdout + res.stderr
            assert "Traceback" not in res.stderr, res.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        log.close()
    outputs["daemon stdout and stderr"] = (tmp_path / "daemon.log").read_text()
    found = {name: db_secrets(text) for name, text in outputs.items()}
    print("occurrences of the database passwords:", json.dumps(found, indent=1))
    assert sum(found.values()) == 0, found

    # the location is still shown, with the password masked rather than the URL dropped
    masked = env["CRONUI_DB"].replace(DB_SECRET, "***")
    assert outputs["locate db"].strip() == masked
    assert json.loads(outputs["status --json"])["db"] == masked
    assert f"database   {masked}" in outputs["status"]
    assert "password=***" in outputs["--db " + query_form.replace(QUERY_SECRET, "PW") + " locate db"]
    assert f'"db": "{masked}"' in outputs["daemon stdout and stderr"]
    errors = [text for name, text in outputs.items() if name.endswith("jobs list") and "--db" in name]
    assert len(errors) == 3 and all(e.startswith("cronui: postgresql://") and "***" in e for e in errors), errors
