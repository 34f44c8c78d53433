"""Secrets never leave a run unmasked (events, milestones, the run row, another origin); a run's output
cannot flood the engine with milestones or events."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronui import secrets
from cronui.config import Settings
from cronui.engine.clock import SystemClock
from cronui.engine.dispatcher import OUTPUT_CAPPED_NOTE, OUTPUT_EVENT_PIECE, OUTPUT_EVENTS_MAX
from cronui.engine.engine import Engine
from cronui.engine.executors.base import MILESTONE_CAP, MILESTONES_DROPPED, CappedBuffer, Outcome, RunContext
from cronui.model import EventKind, Job, RunEvent, RunStatus, TargetKind
from tests.engine.servers import ChatServer, Request, Server, Sink, send
from tests.helpers import make_job, settle

SECRET = "hunter2-0123456789"
OTHER = "tok-ABCDEFGH"


# ---------------------------------------------------------------- masking, piece by piece


@given(
    st.lists(st.sampled_from(["plain text ", SECRET, OTHER, "hunter", "tok-", "\n", "é", "x"]), max_size=30),
    st.randoms(use_true_random=False),
)
def test_a_stream_masked_in_pieces_is_masked_as_a_whole(parts: list[str], rnd: random.Random):
    text = "".join(parts)
    cuts = sorted(rnd.sample(range(len(text) + 1), min(len(text) + 1, rnd.randint(0, 8))))
    masker = secrets.StreamMasker([SECRET, OTHER])
    shown = ""
    prev = 0
    for cut in [*cuts, len(text)]:
        shown += masker.feed(text[prev:cut])
        prev = cut
    shown += masker.end()
    assert shown == secrets.mask(text, [SECRET, OTHER])
    assert SECRET not in shown and OTHER not in shown


def test_a_stream_without_secrets_is_handed_on_as_it_comes():
    masker = secrets.StreamMasker([])
    assert masker.feed("hunter2-0") == "hunter2-0"
    masker = secrets.StreamMasker([SECRET])
    assert masker.feed("ordinary output\n") == "ordinary output\n"  # nothing held back
    assert masker.feed("then hunter2-01") == "then "  # the start of the secret waits for what follows
    assert masker.feed("23456789 end") == f"{secrets.MASK} end"


def test_data_masked_at_every_depth():
    data = {"url": f"https://x/?k={SECRET}", "list": [SECRET, 3, None], SECRET: {"deep": (OTHER,)}}
    masked = secrets.mask_data(data, [SECRET, OTHER])
    assert SECRET not in json.dumps(masked) and OTHER not in json.dumps(masked)
    assert masked["list"][1:] == [3, None]


def test_a_capped_buffer_masks_a_secret_the_cut_goes_through():
    buf = CappedBuffer(64, [SECRET])
    buf.write(b"a" * 24 + SECRET.encode() + b"b" * 200 + SECRET.encode() + b"c" * 22)
    text = buf.text()
    assert "bytes omitted" in text
    for n in range(4, len(SECRET)):
        assert SECRET[:n] not in text.split("\n")[0][-n:]
    assert "hunter2-01" not in text and "0123456789" not in text


# ---------------------------------------------------------------- a real engine


@pytest.fixture
async def real(store, settings: Settings) -> AsyncIterator[Engine]:
    e = Engine(store, settings, SystemClock())
    await e.open()
    assert await e.try_acquire()
    yield e
    await e.close(grace_s=2)


def db_dump(settings: Settings) -> str:
    con = sqlite3.connect(settings.db)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def events_text(events: list[RunEvent]) -> str:
    return "\n".join(f"{ev.name} {json.dumps(ev.data)}" for ev in events)


async def run_collecting(eng: Engine, name: str) -> tuple[list[RunEvent], int]:
    sub = eng.bus.subscribe()
    run = await eng.control.trigger(name)
    await settle(eng)
    await eng.bus.flush()
    events = []
    while not sub.queue.empty():
        events.append(sub.queue.get_nowait())
    sub.close()
    assert run.id is not None
    return [ev for ev in events if ev.run_id == run.id], run.id


async def test_a_shell_secret_is_masked_in_events_milestones_and_the_run(real: Engine, settings, monkeypatch):
    monkeypatch.setenv("CRONUI_TEST_SECRET", SECRET)
    command = (
        'echo "token $TOKEN"; echo "::milestone got key=$TOKEN name=$TOKEN::"; '
        # the secret written in two pieces, a while apart: two reads, two live output events
        'printf "split %s" "${TOKEN%????????}"; sleep 0.3; printf "%s\\n" "${TOKEN#??????????}"; '
        'echo "err $TOKEN" >&2; exit 3'
    )
    job = make_job("sec", "@yearly", command)
    job.target.env = {"TOKEN": "${env:CRONUI_TEST_SECRET}"}  # type: ignore[union-attr]
    await real.control.add_job(job)
    events, run_id = await run_collecting(real, "sec")
    run = await real.store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert f"token {secrets.MASK}" in run.output and f"split {secrets.MASK}" in run.output
    got = next(m for m in run.milestones if m.name == "got")
    assert got.data == {"key": secrets.MASK, "name": secrets.MASK}  # a key called `name` is data too
    live = "".join(ev.data["text"] for ev in events if ev.kind is EventKind.OUTPUT)
    assert f"split {secrets.MASK}" in live and f"err {secrets.MASK}" in live
    assert SECRET not in events_text(events)
    assert SECRET not in db_dump(settings)


async def test_an_outcome_is_masked_before_it_is_recorded(store, settings, monkeypatch):
    monkeypatch.setenv("CRONUI_TEST_SECRET", SECRET)

    async def leaky(ctx: RunContext) -> Outcome:
        value = ctx.resolve("${env:CRONUI_TEST_SECRET}")
        ctx.milestone(f"step-{value}", echoed=[value])
        return Outcome(
            RunStatus.FAILED, error=f"bad {value}", summary=value, fields={"request": {"url": value}}, transient=False
        )

    eng = Engine(store, settings, SystemClock(), executors={TargetKind.SHELL: leaky})
    await eng.open()
    assert await eng.try_acquire()
    await eng.control.add_job(make_job("leaky", "@yearly", "x"))
    events, run_id = await run_collecting(eng, "leaky")
    await eng.close(grace_s=1)
    run = await store.get_run(run_id)
    assert run.error == f"bad {secrets.MASK}" and run.summary == secrets.MASK
    assert run.request == {"url": secrets.MASK}
    assert SECRET not in events_text(events) and SECRET not in db_dump(settings)


# ---------------------------------------------------------------- redirects to another origin


class Redirector(Server):
    """Answers every request with a redirect to `target` + the same path (status from the path: /307/...)."""

    target = ""

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        status = 307 if req.path.startswith("/307") else 302
        await send(writer, status, b"", extra=f"Location: {self.target}{req.path}\r\n")


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Redirector, Sink]]:
    r, s = Redirector(), Sink()
    await r.start()
    await s.start()
    yield r, s
    await r.stop()
    await s.stop()


def http_job(name: str, url: str, **target: object) -> Job:
    return Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.HTTP, target={"url": url, **target})


async def test_secret_headers_are_dropped_on_a_redirect_to_another_origin(real: Engine, servers, monkeypatch):
    redirector, sink = servers
    redirector.target = sink.url
    monkeypatch.setenv("CRONUI_TEST_SECRET", SECRET)
    headers = {"X-Api-Key": "${env:CRONUI_TEST_SECRET}", "X-Trace": "t-1", "X-Mixed": "k=${env:CRONUI_TEST_SECRET}"}
    await real.control.add_job(http_job("away", f"{redirector.url}/ok", headers=headers))
    events, run_id = await run_collecting(real, "away")
    run = await real.store.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED
    [first] = redirector.requests
    assert first.headers["x-api-key"] == SECRET  # the origin the job names gets it
    [req] = sink.requests
    assert "x-api-key" not in req.headers and "x-mixed" not in req.headers
    assert req.headers["x-trace"] == "t-1"
    dropped = next(m for m in run.milestones if m.name == "redirect-headers-dropped")
    assert dropped.data["to"] == f"http://127.0.0.1:{sink.port}"
    assert SECRET not in events_text(events)


async def test_a_redirect_on_the_same_origin_keeps_the_headers(real: Engine, monkeypatch):
    monkeypatch.setenv("CRONUI_TEST_SECRET", SECRET)
    same = Redirector()
    await same.start()
    same.target = f"http://127.0.0.1:{same.port}/x"  # loops on itself: httpx stops it after 20 hops
    try:
        headers = {"X-Api-Key": "${env:CRONUI_TEST_SECRET}"}
        await real.control.add_job(http_job("loop", f"{same.url}/a", headers=headers))
        _, run_id = await run_collecting(real, "loop")
    finally:
        await same.stop()
    run = await real.store.get_run(run_id)
    assert run.status is RunStatus.FAILED and "TooManyRedirects" in (run.error or "")
    assert len(same.requests) > 2 and all(r.headers.get("x-api-key") == SECRET for r in same.requests)


async def test_a_body_holding_a_secret_is_never_resent_to_another_origin(real: Engine, servers, monkeypatch):
    redirector, sink = servers
    redirector.target = sink.url
    monkeypatch.setenv("CRONUI_TEST_SECRET", SECRET)
    body = '{"token": "${env:CRONUI_TEST_SECRET}"}'
    await real.control.add_job(http_job("post", f"{redirector.url}/307/ok", method="POST", body=body))
    _, run_id = await run_collecting(real, "post")
    run = await real.store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert run.error == (
        f"refused a redirect from http://127.0.0.1:{redirector.port} to http://127.0.0.1:{sink.port}: the request"
        " body holds a secret (${env:...}) that must not go to another origin"
    )
    assert sink.requests == []
    assert run.attempt == 1 and await real.store.attempts(run_id) == [run]  # permanent: no retry


async def test_an_agent_key_never_follows_a_redirect_to_another_origin(real: Engine, monkeypatch):
    llm, redirector = ChatServer(), Redirector()
    await llm.start()
    await redirector.start()
    redirector.target = llm.url
    monkeypatch.setenv("CRONUI_TEST_KEY", SECRET)
    spec = {
        "base_url": f"{redirector.url}/307/v1",
        "model": "echo",
        "message": "hi",
        "api_key_env": "CRONUI_TEST_KEY",
        "headers": {"X-Org": "${env:CRONUI_TEST_KEY}"},
    }
    job = Job(name="agent", schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=spec)
    try:
        await real.control.add_job(job)
        _, run_id = await run_collecting(real, "agent")
    finally:
        await llm.stop()
        await redirector.stop()
    assert redirector.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert llm.requests, "the redirect was followed"
    for req in llm.requests:
        assert "authorization" not in req.headers and "x-org" not in req.headers
    run = await real.store.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED


# ---------------------------------------------------------------- floods


async def test_milestones_beyond_the_cap_are_counted_not_kept(real: Engine):
    n = MILESTONE_CAP * 5
    command = f'i=0; while [ $i -lt {n} ]; do echo "::milestone m$i i=$i::"; i=$((i+1)); done; echo done'
    await real.control.add_job(make_job("chatty", "@yearly", command))
    events, run_id = await run_collecting(real, "chatty")
    run = await real.store.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED and run.output.endswith("done\n")
    names = [m.name for m in run.milestones]
    assert names[0] == "process-started" and names[-2:] == ["process-exited", MILESTONES_DROPPED]
    assert names[1 : MILESTONE_CAP + 1] == [f"m{i}" for i in range(MILESTONE_CAP)]
    assert run.milestones[-1].data == {"dropped": n - MILESTONE_CAP, "kept": MILESTONE_CAP}
    assert sum(ev.kind is EventKind.MILESTONE for ev in events) == MILESTONE_CAP + 3
    rows = await real.store.run_events(run_id)
    # stored as the live view saw them: the kept milestones and the drop count, not one row per line (how
    # many output chunks the rest makes depends on how the pipe was read, which load changes)
    assert sum(r.kind is EventKind.MILESTONE for r in rows) == MILESTONE_CAP + 3


async def test_an_overlong_line_is_never_a_milestone(real: Engine):
    command = "printf 'x%.0s' $(seq 5000); echo '::milestone fake::'; echo '::milestone real::'"
    await real.control.add_job(make_job("long", "@yearly", command))
    _, run_id = await run_collecting(real, "long")
    run = await real.store.get_run(run_id)
    assert [m.name for m in run.milestones] == ["process-started", "real", "process-exited"]


async def test_live_output_events_are_capped_in_number_and_say_so(store, settings):
    async def chatty(ctx: RunContext) -> Outcome:
        for i in range(OUTPUT_EVENTS_MAX + 500):
            ctx.output("stdout", f"line {i}\n".encode())
            ctx.milestone("tick")  # each milestone hands on the output before it
        return Outcome(RunStatus.SUCCEEDED)

    eng = Engine(store, settings, SystemClock(), executors={TargetKind.SHELL: chatty})
    await eng.open()
    assert await eng.try_acquire()
    await eng.control.add_job(make_job("chatty", "@yearly", "x"))
    events, run_id = await run_collecting(eng, "chatty")
    await eng.close(grace_s=1)
    outputs = [ev for ev in events if ev.kind is EventKind.OUTPUT]
    assert len(outputs) == OUTPUT_EVENTS_MAX
    assert outputs[-1].data["text"].endswith(OUTPUT_CAPPED_NOTE)
    run = await store.get_run(run_id)
    assert run.output.endswith(f"line {OUTPUT_EVENTS_MAX + 499}\n")


async def test_a_large_output_reaches_viewers_in_pieces_of_bounded_size(store, settings):
    """One write of 200,000 characters: viewers get it whole, in order, in events of at most
    OUTPUT_EVENT_PIECE characters (each viewer's stream encodes one event at a time)."""
    text = "".join(f"{i:07d}\n" for i in range(25_000))

    async def bulky(ctx: RunContext) -> Outcome:
        ctx.output("stdout", text.encode())
        return Outcome(RunStatus.SUCCEEDED)

    eng = Engine(store, settings, SystemClock(), executors={TargetKind.SHELL: bulky})
    await eng.open()
    assert await eng.try_acquire()
    await eng.control.add_job(make_job("bulky", "@yearly", "x"))
    events, _ = await run_collecting(eng, "bulky")
    await eng.close(grace_s=1)
    outputs = [ev.data["text"] for ev in events if ev.kind is EventKind.OUTPUT]
    assert "".join(outputs) == text
    assert max(len(t) for t in outputs) <= OUTPUT_EVENT_PIECE
    assert len(outputs) == -(-len(text) // OUTPUT_EVENT_PIECE)
