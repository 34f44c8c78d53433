"""The headless daemon's SIGTERM wins even while the scheduler is stuck in a database call."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal

import pytest

from cronui import daemon
from cronui.config import Settings
from cronui.engine.engine import Engine


async def test_sigterm_wins_over_a_pass_stuck_in_the_database(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    entered = asyncio.Event()

    async def stuck(self: Engine) -> float:
        entered.set()
        await asyncio.Event().wait()  # a database call that never answers (a network partition)
        raise AssertionError("unreachable")

    monkeypatch.setattr(Engine, "step", stuck)
    monkeypatch.setattr(daemon, "PASS_LIMIT_S", 0.5)
    out = io.StringIO()
    exits: list[int] = []
    task = asyncio.create_task(daemon.run_daemon(settings, grace_s=0.5, out=out, hard_exit=exits.append))
    async with asyncio.timeout(30):
        await entered.wait()
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(30):  # before: the daemon waited for the pass forever
        code = await task
    assert code == 0 and exits == []
    states = [e["state"] for e in map(json.loads, out.getvalue().splitlines()) if e["event"] == "scheduler"]
    assert states[0] == "starting" and states[-1] == "stopped"


async def test_sigterm_while_the_daemon_starts_stops_it_cleanly(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """A stop asked for while the engine opens (the strays of a gone scheduler being swept, on a slow box)
    ends the daemon with exit 0 and its `stopped` line; before, SIGTERM's default action killed it there."""
    opened = Engine.open

    async def open_then_sigterm(self: Engine) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0)  # the signal is handled here, during the start
        await opened(self)

    monkeypatch.setattr(Engine, "open", open_then_sigterm)
    out = io.StringIO()
    exits: list[int] = []
    async with asyncio.timeout(30):
        code = await daemon.run_daemon(settings, grace_s=0.5, out=out, hard_exit=exits.append)
    assert code == 0 and exits == []
    states = [e["state"] for e in map(json.loads, out.getvalue().splitlines()) if e["event"] == "scheduler"]
    assert states[0] == "starting" and states[-1] == "stopped"
