"""`cronui tokens add|list|rm` on each backend: the secret printed once and stored only as its hash, one-line
refusals that change nothing (exit 2), and a token's expiry and last use on an injected clock."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from cronui.application import tokens
from cronui.application.caller import Caller, Scope
from cronui.application.context import Cronui
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.store import make_store
from cronui.store.postgres import split_url
from tests.helpers import cli, ms
from tests.store.backends import BACKENDS, drop_schema, postgres_url


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database for the CLI's --db: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "tokens.db")
        return
    url = await postgres_url()
    try:
        yield url
    finally:
        await drop_schema(url)


async def stored_text(db: str) -> str:
    """Every value of the tokens table, as text: what a reader of the database would find."""
    if db.startswith("postgresql"):
        dsn, schema = split_url(db)
        con = await asyncpg.connect(dsn)
        try:
            rows = await con.fetch(f'SELECT * FROM "{schema}".tokens')
        finally:
            await con.close()
        return repr([tuple(r) for r in rows])
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT * FROM tokens").fetchall()
    return repr(rows) + Path(db).read_bytes().decode("latin-1")


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`cronui ARGV` off the test's event loop (the command runs one of its own)."""
    return await asyncio.to_thread(cli, capsys, *argv)


def listed(capsys: pytest.CaptureFixture[str], db: str) -> list[dict[str, object]]:
    code, out, err = cli(capsys, "--db", db, "tokens", "list", "--json")
    assert code == 0, err
    return list(json.loads(out))


async def test_a_secret_is_printed_once_and_stored_only_as_its_hash(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = await run(capsys, "--db", db, "tokens", "add", "ci-bot", "--scope", "run", "--expires", "30d")
    assert code == 0, err
    lines = out.splitlines()
    secret = lines[-1]
    assert secret.startswith("cu_") and len(secret) >= 40
    assert lines[0].startswith("token 'ci-bot' (run, expires 20")
    code, out, err = await run(capsys, "--db", db, "tokens", "add", "reader", "--scope", "read", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert set(made) == {"name", "scope", "created_at", "expires_at", "policy", "secret"}
    assert (made["name"], made["scope"], made["expires_at"]) == ("reader", "read", None)
    assert made["secret"].startswith("cu_") and made["secret"] != secret

    # the list names them, never a secret; the database holds neither secret
    code, out, err = await run(capsys, "--db", db, "tokens", "list")
    assert code == 0 and "ci-bot" in out and "reader" in out and "in 29d" in out
    assert secret not in out and made["secret"] not in out
    found = await asyncio.to_thread(listed, capsys, db)
    assert [(t["name"], t["scope"], t["expired"], t["last_used_at"]) for t in found] == [
        ("ci-bot", "run", False, None),
        ("reader", "read", False, None),
    ]
    keys = {"name", "scope", "created_at", "expires_at", "last_used_at", "expired", "policy"}
    assert all(set(t) == keys and t["policy"] is None for t in found)
    assert secret not in json.dumps(found)
    text = await stored_text(db)
    assert secret not in text and made["secret"] not in text
    assert tokens.digest(secret) in text  # what is kept instead

    code, out, err = await run(capsys, "--db", db, "tokens", "rm", "ci-bot")
    assert (code, out) == (0, "removed token 'ci-bot'\n"), err
    assert [t["name"] for t in await asyncio.to_thread(listed, capsys, db)] == ["reader"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "reader", "--scope", "read"], "cronui: name: a token named 'reader' already exists"),
        (["add", "x", "--scope", "god"], "cronui: --scope: 'god' is not one of read, run, write, admin"),
        (["add", "x", "--scope", "read", "--expires", "soon"], "--expires: expected a duration like 30s"),
        (["add", "x", "--scope", "read", "--expires", "0"], "--expires: must be more than 0 seconds"),
        (["add", "x y", "--scope", "read"], "cronui: name: expected 1-64 letters, digits"),
        (["add", "x"], "the following arguments are required: --scope"),
        (["rm", "nobody"], "cronui: no token named 'nobody'"),
    ],
)
def test_refusals_are_one_line_exit_2_and_change_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    db = str(tmp_path / "c.db")
    assert cli(capsys, "--db", db, "tokens", "add", "reader", "--scope", "read")[0] == 0
    before = listed(capsys, db)
    code, out, err = cli(capsys, "--db", db, "tokens", *argv)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and message in err, err
    assert listed(capsys, db) == before


async def test_expiry_and_last_use_on_an_injected_clock(db: str, settings: Settings) -> None:
    settings = dataclasses.replace(settings, db=db)
    store = make_store(db)
    await store.open()
    try:
        clock = FakeClock(ms("2026-03-02T09:00:00Z"))
        app = Cronui(settings, store, Control(store, settings, clock), clock)
        runner = await tokens.add_token(app, "runner", "run", "1h")
        forever = await tokens.add_token(app, "forever", "admin")
        assert runner.token.expires_at == clock.now_ms() + 3_600_000

        caller = await tokens.authenticate(app, runner.secret, admin_token=None)
        assert caller == Caller("api", "runner", Scope.RUN, limited=True)
        assert caller.owner == "api:runner"
        assert await tokens.authenticate(app, runner.secret, admin_token=None, origin="mcp") == Caller(
            "mcp", "runner", Scope.RUN, limited=True
        )
        used = {t.name: t.last_used_at for t in await tokens.list_tokens(app)}
        assert used == {"forever": None, "runner": clock.now_ms()}

        clock.advance(30)  # within the minute: the last use is not written again
        assert await tokens.authenticate(app, runner.secret, admin_token=None) is not None
        assert {t.name: t.last_used_at for t in await tokens.list_tokens(app)}["runner"] == clock.now_ms() - 30_000
        clock.advance(31)
        assert await tokens.authenticate(app, runner.secret, admin_token=None) is not None
        assert {t.name: t.last_used_at for t in await tokens.list_tokens(app)}["runner"] == clock.now_ms()

        clock.set(runner.token.created_at + 3_600_000)  # its hour is up
        assert await tokens.authenticate(app, runner.secret, admin_token=None) is None
        shown = {t["name"]: t for t in (tokens.token_json(t, clock.now_ms()) for t in await tokens.list_tokens(app))}
        assert (shown["runner"]["expired"], shown["forever"]["expired"]) == (True, False)
        assert await tokens.authenticate(app, forever.secret, admin_token=None) == Caller(
            "api", "forever", Scope.ADMIN, limited=True
        )
        # a secret that is no token, and the settings' API token: an admin named env, not held to the policy
        assert await tokens.authenticate(app, "cu_" + "x" * 43, admin_token=None) is None
        assert await tokens.authenticate(app, "s3cret-admin", admin_token="s3cret-admin") == Caller(
            "api", "env", Scope.ADMIN, limited=False
        )
        await tokens.remove_token(app, "forever")
        assert await tokens.authenticate(app, forever.secret, admin_token=None) is None
    finally:
        await store.close()
