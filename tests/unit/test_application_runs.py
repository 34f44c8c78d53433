"""The runs use cases as any face sees them: a refusal names the value as the caller typed it (`--limit` on
the command line, `limit` in a query) and says what is wrong; lists page back with `before`; a cancel of
a run that ended is a conflict that carries the run; a run's output so far comes from the live log while
it runs; the event feed filters by job and resumes after an id; stats and the timeline refuse bad windows."""

from __future__ import annotations

import pytest

from cronui.application import runs, stats
from cronui.application.context import Cronui
from cronui.application.errors import BAD_INPUT, CONFLICTS, Ended, Invalid, problems
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control, NotFound, NotWaiting
from cronui.model import EventKind, RunEvent, RunStatus
from cronui.store.sqlite import SQLiteStore
from tests.helpers import make_job


@pytest.fixture
def app(settings: Settings, store: SQLiteStore, clock: FakeClock) -> Cronui:
    return Cronui(settings, store, Control(store, settings, clock), clock)


async def queued(app: Cronui, name: str, count: int) -> list[int]:
    """`count` manual runs of a new job `name`, pending; their ids, oldest first."""
    await app.control.add_job(make_job(name))
    ids = []
    for _ in range(count):
        run = await app.control.trigger(name)
        assert run.id is not None
        ids.append(run.id)
    return ids


@pytest.mark.parametrize(
    ("query", "prefix", "most", "message"),
    [
        (runs.RunQuery(limit="1001"), "", 1000, "limit: expected 1 to 1000, got 1001"),
        (runs.RunQuery(limit="1001"), "--", 100_000, None),
        (runs.RunQuery(limit="0"), "--", 100_000, "--limit: expected 1 to 100000, got 0"),
        (runs.RunQuery(limit="ten"), "", 1000, "limit: expected a whole number, got 'ten'"),
        (runs.RunQuery(statuses=["succeeded", "done"]), "", 1000, "status: expected one of "),
        (runs.RunQuery(statuses=["done"]), "--", 1000, "--status: expected one of "),
        (runs.RunQuery(before="#x"), "", 1000, "before: expected a whole number, got 'x'"),
        (runs.RunQuery(since="soon"), "--", 1000, "--since: "),
    ],
)
async def test_a_bad_value_is_refused_in_the_callers_words(
    app: Cronui, query: runs.RunQuery, prefix: str, most: int, message: str | None
) -> None:
    if message is None:  # within the command line's bound: no refusal
        assert await runs.list_runs(app, query, most=most, prefix=prefix) == []
        return
    with pytest.raises(BAD_INPUT) as refused:
        await runs.list_runs(app, query, most=most, prefix=prefix)
    assert str(refused.value).startswith(message) and len(str(refused.value).splitlines()) == 1


async def test_a_bad_duration_names_its_field_for_the_problems_list(app: Cronui) -> None:
    with pytest.raises(BAD_INPUT) as refused:
        await runs.list_runs(app, runs.RunQuery(since="soon"))
    assert problems(refused.value) == [
        {"field": "since", "problem": "expected a duration like 30s, 10m or 2h, got 'soon'"}
    ]


async def test_an_unknown_status_is_named_as_given(app: Cronui) -> None:
    with pytest.raises(Invalid, match=r"got 'done'$"):
        await runs.list_runs(app, runs.RunQuery(statuses=["succeeded", "done"]))


async def test_runs_are_listed_newest_first_and_page_back_with_before(app: Cronui) -> None:
    ids = await queued(app, "a", 5)
    await queued(app, "b", 1)
    first = await runs.list_runs(app, runs.RunQuery(job="a", limit="2"))
    assert [r.id for r in first] == ids[:-3:-1]
    rest = await runs.list_runs(app, runs.RunQuery(job="a", limit="2", before=f"#{first[-1].id}"))
    assert [r.id for r in rest] == ids[-3:-5:-1]
    assert len(await runs.list_runs(app, runs.RunQuery())) == 6  # every job's, up to the default 50
    assert [r.status for r in await runs.list_runs(app, runs.RunQuery(statuses=["succeeded"]))] == []


async def test_since_counts_back_from_the_callers_clock(app: Cronui, clock: FakeClock) -> None:
    await queued(app, "a", 1)
    clock.advance(3600)
    assert await runs.list_runs(app, runs.RunQuery(since="30m")) == []
    assert len(await runs.list_runs(app, runs.RunQuery(since="2h"))) == 1


async def test_an_unknown_job_or_run_is_missing(app: Cronui) -> None:
    with pytest.raises(NotFound, match=r"^no job named 'ghost'$"):
        await runs.list_runs(app, runs.RunQuery(job="ghost"))
    with pytest.raises(NotFound, match=r"^no run #9$"):
        await runs.find_run(app, "#9")
    with pytest.raises(Invalid, match=r"^RUN_ID: expected a whole number, got 'x'$"):
        await runs.find_run(app, "x", "RUN_ID")


async def test_a_cancel_of_an_ended_run_is_a_conflict_that_carries_the_run(app: Cronui) -> None:
    [run_id] = await queued(app, "a", 1)
    run = await runs.cancel(app, run_id)
    assert run.status is RunStatus.CANCELLED
    with pytest.raises(Ended) as again:
        await runs.cancel(app, run_id)
    assert str(again.value) == f"run #{run_id} already ended: cancelled"
    assert again.value.run.id == run_id and isinstance(again.value, CONFLICTS)


async def test_approve_and_reject_record_who_decided(app: Cronui) -> None:
    await app.control.add_job(make_job("gated", approval=True))
    first, second = (await app.control.trigger("gated")).id, (await app.control.trigger("gated")).id
    assert first is not None and second is not None
    approved = await runs.approve(app, first, "ops@host")
    assert approved.status is RunStatus.PENDING
    rejected = await runs.reject(app, second, "ops@host", "not today")
    assert rejected.status is RunStatus.SKIPPED and rejected.reason == "rejected by ops@host: not today"
    with pytest.raises(NotWaiting, match=f"^run #{second} is not waiting for approval \\(it is skipped\\)$"):
        await runs.approve(app, second, "ops@host")
    assert [r.id for r in await runs.awaiting_approval(app)] == []


async def test_a_running_runs_output_so_far_comes_from_the_live_log(app: Cronui, clock: FakeClock) -> None:
    [run_id] = await queued(app, "a", 1)
    now = clock.now_ms()
    await app.store.append_events(
        [
            RunEvent(EventKind.OUTPUT, now, run_id, None, "a", "stdout", {"text": "one "}),
            RunEvent(EventKind.OUTPUT, now, run_id, None, "a", "stderr", {"text": "oops"}),
            RunEvent(EventKind.MILESTONE, now, run_id, None, "a", "halfway", {"n": 1}),
            RunEvent(EventKind.OUTPUT, now, run_id, None, "a", "stdout", {"text": "two"}),
        ]
    )
    view = await runs.run_view(app, run_id)
    assert (view.stdout, view.stderr) == ("one two", "oops")
    assert [m.name for m in view.milestones] == ["halfway"]
    with pytest.raises(NotFound, match=r"^no run #77$"):
        await runs.run_view(app, 77)


async def test_following_a_runs_output_gives_the_log_so_far_then_what_comes_until_it_ends(
    app: Cronui, clock: FakeClock
) -> None:
    [run_id] = await queued(app, "a", 1)
    run = await runs.get_run(app, run_id)
    now = clock.now_ms()

    def told(kind: EventKind, stream: str | None = None, text: str = "") -> RunEvent:
        return RunEvent(kind, now, run_id, None, "a", stream, {"text": text} if stream else {})

    await app.store.append_events([told(EventKind.OUTPUT, "stdout", "one "), told(EventKind.OUTPUT, "stderr", "oops")])
    got: list[tuple[str, str]] = []
    async for chunk in runs.follow_output(app, run, poll_s=0):
        got.append(chunk)
        if len(got) == 2:  # the log so far is shown: more comes, then the end, then nothing more is shown
            await app.store.append_events(
                [
                    told(EventKind.OUTPUT, "stdout", "two"),
                    told(EventKind.FINISHED),
                    told(EventKind.OUTPUT, "stdout", "late"),
                ]
            )
    assert got == [("stdout", "one "), ("stderr", "oops"), ("stdout", "two")]


async def test_the_event_feed_keeps_to_its_job_and_resumes_after_an_id(app: Cronui) -> None:
    with pytest.raises(NotFound, match=r"^no job named 'a'$"):
        await runs.follow_events(app, "a")
    await queued(app, "a", 1)
    await queued(app, "b", 1)
    mine = await runs.follow_events(app, "a")  # from now: nothing yet
    assert await mine.next(0) == []
    await app.control.trigger("a")
    await app.control.trigger("b")
    assert [ev.job_name for ev in await mine.next(0)] == ["a"]
    replay = await runs.follow_events(app, None, after=0)  # everything the log holds
    kinds = [(ev.kind, ev.job_name) for ev in await replay.next(0)]
    assert (EventKind.QUEUED, "b") in kinds and (EventKind.JOB_CREATED, "a") in kinds


async def test_stats_and_the_timeline_refuse_a_bad_window(app: Cronui) -> None:
    with pytest.raises(BAD_INPUT, match=r"^since: expected a duration"):
        await stats.stats_report(app, "forever")
    with pytest.raises(Invalid, match=r"^bucket: 1s is too short for since=7d \(at most 10,000 buckets\)$"):
        await stats.timeline(app, None, "7d", "1s")
    await queued(app, "a", 1)
    report = await stats.stats_report(app, "7d")
    assert report["jobs"]["a"]["runs"] == 0 and report["overall"]["success_rate"] is None
    line = await stats.timeline(app, "a", "1h", "10m")
    assert line["job"] == "a" and line["bucket_s"] == 600.0
