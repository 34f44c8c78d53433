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
