"""`cronui serve` as a user starts it: the token from the environment or the config, the listen address
it guards, one-line refusals, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cronui.main import main
from tests.helpers import cli


def test_refuses_a_non_loopback_address_without_a_token(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    code, out, err = cli(capsys, "--db", db, "serve", "--listen", "0.0.0.0:0")
    assert code == 2 and out == ""
    assert err == (
        "cronui serve: refusing to listen on 0.0.0.0 with no token: make one with `cronui tokens add`, or set "
        "CRONUI_API_TOKEN or [api] token in the config (or listen on 127.0.0.1)\n"
    )
    for listen, message in (
        ("8377", "--listen: expected HOST:PORT"),
        ("127.0.0.1:http", "--listen: the port must be a number"),
        ("127.0.0.1:70000", "--listen: the port must be a number"),
    ):
        code, out, err = cli(capsys, "--db", db, "serve", "--listen", listen)
        assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_a_token_reference_that_is_not_set_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[api]\ntoken = "${env:NOT_SET_ANYWHERE}"\n')
    code, _, err = cli(capsys, "--config", str(config), "--db", str(tmp_path / "c.db"), "serve")
    assert code == 2
    assert err.strip() == (
        "cronui: api.token: environment variable NOT_SET_ANYWHERE is not set (referenced as ${env:NOT_SET_ANYWHERE})"
    )
    monkeypatch.setenv("CRONUI_API_TOKEN", "  ")
    code, _, err = cli(capsys, "--db", str(tmp_path / "c.db"), "serve")
    assert code == 2 and "api.token" in err


def test_an_address_in_use_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--db", str(tmp_path / "c.db"), "serve", "--listen", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"cronui serve: cannot listen on 127.0.0.1:{port}: ") and "\n" == err[-1]


def test_serve_with_the_config_token_then_stop_on_sigterm(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    config = tmp_path / "config.toml"
    config.write_text('[api]\ntoken = "${env:MY_API_TOKEN}"\n')
    env = {**os.environ, "MY_API_TOKEN": "from-the-config-ref", "CRONUI_TIMEZONE": "UTC"}
    env.pop("CRONUI_API_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronui", "--config", str(config), "--db", db, "serve", "--listen", "0.0.0.0:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.match(r"cronui: serving http://0\.0\.0\.0:(\d+)/api/v1", line)
        assert m, line
        url = f"http://127.0.0.1:{m.group(1)}/api/v1"
        assert httpx.get(f"{url}/jobs", timeout=10).status_code == 401
        r = httpx.get(f"{url}/status", headers={"Authorization": "Bearer from-the-config-ref"}, timeout=10)
        assert r.status_code == 200 and r.json()["scheduler"]["pid"] == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err and "from-the-config-ref" not in err
    code = main(["--db", db, "status", "--json"])
    assert code == 1, "the lease was released: nothing schedules"
