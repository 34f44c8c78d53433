"""Chain conditions cannot hold up the scheduler: patterns are matched by re2 (linear time) off the event
loop, against at most CONDITION_TEXT_CAP of the output; a stored pattern re2 refuses holds its edge back
with a milestone that says why. On the engine's fake clock; the real-process version is in
tests/e2e/test_faults_loop.py."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path

import pytest

from cronui import chains
from cronui.engine import finishing
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.finishing import CHAIN_NOT_FIRED
from cronui.model import ChainEdge, Run, RunStatus, Trigger
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from tests.helpers import make_job, ms, settle

CATASTROPHIC = "regex:(a+)+$"  # Python's re takes minutes on 'a' * 40 + 'b': it backtracks 2^40 ways


async def runs_of(store: SQLiteStore, name: str) -> list[Run]:
    return [r for r in await store.list_runs(RunFilter(limit=1000)) if r.job_name == name]


async def build_with_condition(engine: Engine, when: str, output: str, folder: Path) -> None:
    await engine.control.add_job(make_job("publish", "@yearly"))
    printed = folder / "build-output"  # output longer than a command may be is printed from a file
    printed.write_text(output)
    job = make_job("build", "0 9 * * *", f"print-file:{printed}", on_success=["publish"])
    job.set_edge("on_success", "publish", ChainEdge(when=when))
    await engine.control.add_job(job)


@pytest.mark.parametrize(("output", "fires"), [("a" * 40 + "b", False), ("a" * 40, True)])
async def test_a_catastrophic_pattern_is_decided_at_once(engine, clock, store, output, fires, tmp_path):
    await build_with_condition(engine, CATASTROPHIC, output, tmp_path)
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await settle(engine)
    assert [r.status for r in await runs_of(store, "publish")] == ([RunStatus.SUCCEEDED] if fires else [])
    [build] = await runs_of(store, "build")
    held = [m.data["reason"] for m in build.milestones if m.name == CHAIN_NOT_FIRED]
    assert held == ([] if fires else ["the output has no match for /(a+)+$/"])


async def test_a_stored_pattern_re2_refuses_holds_its_edge_back_and_says_why(engine, clock, store, tmp_path):
    """A row saved before patterns were matched by re2 may hold one it refuses (a backreference): the edge
    is not fired, and the run's milestone names the feature."""
    await build_with_condition(engine, "contains:READY", "status: READY READY", tmp_path)
    job = await store.get_job_by_name("build")
    assert job is not None
    job.set_edge("on_success", "publish", ChainEdge(when=r"regex:(READY) \1"))  # past the checks, as an old row
    await store.update_job(job)
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await settle(engine)
    assert await runs_of(store, "publish") == []
    [build] = await runs_of(store, "build")
    assert build.status is RunStatus.SUCCEEDED
    [held] = [m.data for m in build.milestones if m.name == CHAIN_NOT_FIRED]
    assert held["job"] == "publish" and held["when"] == r"regex:(READY) \1"
    assert held["reason"] == (
        r"the condition is not valid: '(READY) \\1' uses a backreference (\1), which re2 (the linear-time "
        "engine conditions are matched with) does not support"
    )


def slow_output() -> str:
    """A full condition text on which a large (but accepted) pattern takes re2 a while: random a/b."""
    rng = random.Random(3)
    return "".join(rng.choice("ab") for _ in range(chains.CONDITION_TEXT_CAP))


SLOW = "regex:[ab]*a[ab]{300}c"  # accepted (about 310 steps), and re2 cannot use its fast path on it


def test_the_slow_pattern_is_accepted():
    assert chains.when_problem(SLOW) is None


class Watched:
    """chains.matches, noting whether a match is under way (set from the worker thread)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.busy = threading.Event()
        self.done = threading.Event()
        self.threads: list[str] = []
        real = chains.matches

        def matches(when: str, output: str) -> bool:
            self.threads.append(threading.current_thread().name)
            self.busy.set()
            try:
                return real(when, output)
            finally:
                self.done.set()

        monkeypatch.setattr(chains, "matches", matches)


async def test_the_loop_keeps_serving_while_a_condition_is_matched(engine, clock, store, monkeypatch, tmp_path):
    watched = Watched(monkeypatch)
    await build_with_condition(engine, SLOW, slow_output(), tmp_path)
    seen_during: list[bool] = []

    async def ticker() -> None:
        while not watched.done.is_set():
            seen_during.append(watched.busy.is_set())
            await asyncio.sleep(0.001)

    tick = asyncio.create_task(ticker())
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await asyncio.wait_for(tick, 30)
    assert watched.threads and all(t.startswith("cronui-conditions") for t in watched.threads)
    assert any(seen_during), "the loop never ran while the condition was being matched"
    [build] = await runs_of(store, "build")
    assert [m.data["job"] for m in build.milestones if m.name == CHAIN_NOT_FIRED] == ["publish"]


async def test_a_finish_cancelled_while_its_condition_is_matched_records_nothing(
    engine: Engine, clock: FakeClock, store: SQLiteStore, monkeypatch, tmp_path: Path
):
    """The loop going away while a condition is matched: the end is not written (the row stays as it was:
    a running run is left for the next start to record as interrupted), and the worker is free again."""
    watched = Watched(monkeypatch)
    await build_with_condition(engine, SLOW, slow_output(), tmp_path)
    job = await store.get_job_by_name("build")
    assert job is not None and job.id is not None
    now = clock.now_ms()
    run = await store.insert_run(Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=now, queued_at=now))
    assert run is not None and run.id is not None
    run.status, run.output, run.started_at, run.finished_at = RunStatus.SUCCEEDED, slow_output(), 1, 2
    finish = asyncio.create_task(engine.dispatcher.finish(run, job))
    while not watched.busy.is_set():
        await asyncio.sleep(0.001)
    finish.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finish
    stored = await store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.PENDING and stored.finished_at is None
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(finishing.CONDITIONS, chains.matches, "contains:b", "abc") is True


def test_a_condition_sees_the_head_and_tail_of_a_long_output():
    half = chains.CONDITION_TEXT_CAP // 2
    output = "h" * half + "MIDDLE" + "t" * (half - 3) + "END"
    assert chains.matches("contains:END", output)
    assert chains.matches("regex:^h+\\nt*END$", output)  # the first and last half, joined by a line break
    assert not chains.matches("contains:MIDDLE", output)
    short = "x" * 100 + "MIDDLE"
    assert chains.matches("contains:MIDDLE", short)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (r"regex:(a)\1", r"'(a)\\1' uses a backreference (\1)"),
        ("regex:(?<=a)b", "'(?<=a)b' uses lookbehind (?<=...)"),
        ("regex:(?!a)b", "'(?!a)b' uses negative lookahead (?!...)"),
        ("regex:a++", "'a++' uses a possessive quantifier (++)"),
        (r"regex:x\Z", r"'x\\Z' uses \Z (write \z for the end of the text)"),
        ("regex:((a|b){1,100}){1,10}c", "'((a|b){1,100}){1,10}c' is too large to match quickly (4,024 steps"),
        ("regex:(a", "'(a' is not a valid regular expression (missing ), unterminated subpattern"),
    ],
)
def test_patterns_re2_refuses_get_a_one_line_reason_naming_the_feature(when, message):
    problem = chains.when_problem(when)
    assert problem is not None and problem.startswith(message), problem
    assert "\n" not in problem
