"""The API with tokens from `cronui tokens add`, on each backend: 401 without a token or with a wrong, expired
or removed one; 403 naming the scope a route needs at each boundary (nothing changed); what each scope may
do; CRONUI_API_TOKEN still an admin; a loopback server open only while no token is set or stored; and the
caller a request's use cases run as."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cronui.api.app import ApiState, create_app
from cronui.api.common import PREFIX, ROUTE_SCOPES, App, scope_needed
from cronui.application.caller import Scope
from cronui.config import Settings
from cronui.engine.clock import FakeClock, SystemClock
from cronui.engine.control import Control
from cronui.main import main
from cronui.store import make_store
from tests.api.conftest import TOKEN, Api, running_api
from tests.helpers import cli
from tests.store.backends import BACKENDS, drop_schema, postgres_url

UNAUTHORIZED = "missing, wrong or expired API token (Authorization: Bearer TOKEN)"


@pytest.fixture(params=BACKENDS)
async def db_settings(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Settings]:
    """Settings on a SQLite file, or on a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield settings
        return
    url = await postgres_url()
    try:
        yield dataclasses.replace(settings, db=url)
    finally:
        await drop_schema(url)


async def add_token(capsys: pytest.CaptureFixture[str], settings: Settings, name: str, *flags: str) -> str:
    """`cronui tokens add NAME FLAGS --json`, as a user makes one: its secret."""
    code = await asyncio.to_thread(main, ["--db", settings.db, "tokens", "add", name, *flags, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    start = out.index("{")  # the server's request log may share the captured stdout
    return str(json.JSONDecoder().raw_decode(out[start:])[0]["secret"])


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


HTTP_URL = "http://127.0.0.1:9/"  # nothing listens: a run of it fails at once
# (method, path, body, the scope it needs); "a" is a job that exists, each write names a job of its own (HTTP
# jobs: a stored token is held to the [policy], which allows no shell job unless it names them)
REQUESTS: list[tuple[str, str, dict[str, Any] | None, Scope]] = [
    ("GET", f"{PREFIX}/jobs", None, Scope.READ),
    ("GET", f"{PREFIX}/jobs/a", None, Scope.READ),
    ("GET", f"{PREFIX}/runs", None, Scope.READ),
    ("GET", f"{PREFIX}/status", None, Scope.READ),
    ("GET", f"{PREFIX}/alerts", None, Scope.READ),
    ("GET", "/metrics", None, Scope.READ),
    ("POST", f"{PREFIX}/jobs/a/disable", None, Scope.RUN),
    ("POST", f"{PREFIX}/jobs/a/enable", None, Scope.RUN),
    ("POST", f"{PREFIX}/jobs/a/run", None, Scope.RUN),
    ("POST", f"{PREFIX}/jobs/a/pause", {"for": "2h"}, Scope.RUN),
    ("POST", f"{PREFIX}/jobs/a/resume", None, Scope.RUN),
    ("POST", f"{PREFIX}/jobs", {"name": "new-{who}", "schedule": "@daily", "http": {"url": HTTP_URL}}, Scope.WRITE),
    ("PATCH", f"{PREFIX}/jobs/a", {"description": "by {who}"}, Scope.WRITE),
]


def _filled(body: dict[str, Any] | None, who: str) -> dict[str, Any] | None:
    return None if body is None else {k: v.format(who=who) if isinstance(v, str) else v for k, v in body.items()}


async def test_each_scope_may_do_its_own_and_is_refused_the_next_naming_it(
    db_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_api(db_settings) as api:
        r = await api.client.post(
            f"{PREFIX}/jobs", json={"name": "a", "schedule": "every 1h", "http": {"url": HTTP_URL}}
        )
        assert r.status_code == 201, r.text
        secrets = {s: await add_token(capsys, db_settings, f"t-{s.label}", "--scope", s.label) for s in Scope}
        for held, secret in secrets.items():
            for method, path, body, needed in REQUESTS:
                r = await api.anon.request(method, path, headers=bearer(secret), json=_filled(body, held.label))
                if held >= needed:
                    assert r.status_code < 300, (held, method, path, r.text)
                    continue
                assert r.status_code == 403, (held, method, path, r.text)
                assert r.json()["error"] == (
                    f"this needs the {needed.label} scope; the token 't-{held.label}' has {held.label}"
                )
        jobs = {j["name"]: j for j in (await api.client.get(f"{PREFIX}/jobs")).json()}
        # only the scopes that may write made their job; the refused ones changed nothing
        assert sorted(jobs) == ["a", "new-admin", "new-write"]
        assert (await api.client.get(f"{PREFIX}/jobs/a")).json()["description"] == "by admin"
        # a job removed by write, refused to run (403 before the job is looked up: nothing said of it)
        r = await api.anon.delete(f"{PREFIX}/jobs/new-write", headers=bearer(secrets[Scope.RUN]))
        assert (r.status_code, r.json()["error"]) == (403, "this needs the write scope; the token 't-run' has run")
        r = await api.anon.delete(f"{PREFIX}/jobs/new-write", headers=bearer(secrets[Scope.WRITE]))
        assert r.status_code == 200, r.text
        # the settings' API token is still an admin
        r = await api.client.post(f"{PREFIX}/jobs", json={"name": "by-env", "schedule": "@daily", "shell": "true"})
        assert r.status_code == 201, r.text


async def test_no_wrong_expired_or_removed_token_is_401(
    db_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(SystemClock().now_ms())

    def fake_clock(state: ApiState) -> None:
        state.clock = clock

    async with running_api(db_settings, configure=fake_clock) as api:
        hour = await add_token(capsys, db_settings, "hourly", "--scope", "admin", "--expires", "1h")
        kept = await add_token(capsys, db_settings, "kept", "--scope", "read")
        assert (await api.anon.get(f"{PREFIX}/jobs", headers=bearer(hour))).status_code == 200
        for headers in ({}, bearer("wrong"), bearer(hour[:-1]), {"Authorization": f"Basic {hour}"}):
            r = await api.anon.get(f"{PREFIX}/jobs", headers=headers)
            assert (r.status_code, r.json()["error"]) == (401, UNAUTHORIZED), headers
            assert r.headers["www-authenticate"] == "Bearer"
        clock.set(SystemClock().now_ms() + 3_601_000)  # past the hour the token was made with
        r = await api.anon.post(f"{PREFIX}/jobs", headers=bearer(hour), json={"name": "x", "schedule": "@daily"})
        assert (r.status_code, r.json()["error"]) == (401, UNAUTHORIZED)
        assert (await api.anon.get(f"{PREFIX}/jobs", headers=bearer(kept))).status_code == 200
        code, _, err = await asyncio.to_thread(cli, capsys, "--db", db_settings.db, "tokens", "rm", "kept")
        assert code == 0, err
        assert (await api.anon.get(f"{PREFIX}/jobs", headers=bearer(kept))).status_code == 401
        assert (await api.client.get(f"{PREFIX}/jobs")).status_code == 200  # the API token: no expiry
        assert (await api.client.get(f"{PREFIX}/jobs")).json() == []


async def test_a_loopback_server_is_open_only_while_no_token_is_set_or_stored(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_api(settings, token=None) as api:
        assert (await api.anon.get(f"{PREFIX}/jobs")).status_code == 200
        secret = await add_token(capsys, settings, "only", "--scope", "read")
        r = await api.anon.get(f"{PREFIX}/jobs")
        assert (r.status_code, r.json()["error"]) == (401, UNAUTHORIZED)
        assert (await api.anon.get(f"{PREFIX}/jobs", headers=bearer(secret))).status_code == 200
        r = await api.anon.post(f"{PREFIX}/jobs/x/run", headers=bearer(secret))
        assert r.status_code == 403
        code, _, err = await asyncio.to_thread(cli, capsys, "--db", settings.db, "tokens", "rm", "only")
        assert code == 0, err
        assert (await api.anon.get(f"{PREFIX}/jobs")).status_code == 200


async def whoami_app(settings: Settings, store: Any, token: str | None, listen: tuple[str, int]) -> FastAPI:
    """The API with one more route that answers the caller its use cases run as."""
    state = ApiState(settings, store, Control(store, settings, SystemClock()), token, listen=listen)
    app = create_app(state)

    @app.get(f"{PREFIX}/whoami")
    async def whoami(app: App) -> dict[str, Any]:
        return {"owner": app.caller.owner, "scope": app.caller.scope.label, "limited": app.caller.limited}

    return app


async def test_the_use_cases_run_as_the_requests_caller(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    store = make_store(settings.db)
    await store.open()
    try:
        for listen, token, headers, expected in (
            (("127.0.0.1", 8377), None, {}, (200, {"owner": "api:loopback", "scope": "admin", "limited": False})),
            (
                ("127.0.0.1", 8377),
                TOKEN,
                bearer(TOKEN),
                (200, {"owner": "api:env", "scope": "admin", "limited": False}),
            ),
            (("0.0.0.0", 8377), None, {}, (401, None)),  # never open off loopback, even with no token at all
        ):
            app = await whoami_app(settings, store, token, listen)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                r = await client.get(f"{PREFIX}/whoami", headers=headers)
            assert (r.status_code, r.json() if r.status_code == 200 else None) == expected, (listen, token)
        secret = await add_token(capsys, settings, "agent-7", "--scope", "write")
        app = await whoami_app(settings, store, TOKEN, ("0.0.0.0", 8377))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            r = await client.get(f"{PREFIX}/whoami", headers=bearer(secret))
        assert r.json() == {"owner": "api:agent-7", "scope": "write", "limited": True}
    finally:
        await store.close()


def test_every_route_that_changes_something_says_its_scope(settings: Settings) -> None:
    """A route that is not a GET is listed (ROUTE_SCOPES), and every listed one exists: a route added without
    a scope would need admin (closed), and the table would not say so."""
    app = create_app(ApiState(settings, None, None, None))  # type: ignore[arg-type]  # routes only
    routed = {(method.upper(), path) for path, methods in app.openapi()["paths"].items() for method in methods}
    changing = {(m, p) for m, p in routed if m != "GET" and p.startswith(PREFIX)}
    assert len(changing) >= 9 and changing == set(ROUTE_SCOPES)
    assert scope_needed("POST", f"{PREFIX}/not-listed") is Scope.ADMIN
    assert scope_needed("GET", f"{PREFIX}/not-listed") is Scope.READ


def test_serve_off_loopback_takes_stored_tokens_instead_of_an_api_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    db = str(tmp_path / "c.db")
    code, _, err = cli(capsys, "--db", db, "serve", "--listen", "0.0.0.0:0")
    assert code == 2 and "refusing to listen on 0.0.0.0 with no token" in err
    assert cli(capsys, "--db", db, "tokens", "add", "remote", "--scope", "read")[0] == 0
    with socket.socket() as taken:  # the address is taken: the refusal now is the address's, not the token's
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli(capsys, "--db", db, "serve", "--listen", f"0.0.0.0:{port}")
    assert code == 2 and f"cannot listen on 0.0.0.0:{port}" in err, err


async def test_the_openapi_document_names_the_scoped_tokens(api: Api) -> None:
    doc = (await api.client.get(f"{PREFIX}/openapi.json")).json()
    assert "cronui tokens add" in json.dumps(doc["components"]["securitySchemes"])
