"""The UI's pure parts: filter grammar, time texts, the editor's form <-> job mapping, theme files, the
catalog, the in-flight model and the bridge's batching. No app is started here."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from rich.style import Style

from cronui.config import Settings
from cronui.jobs import JobError
from cronui.model import EventKind, Job, Run, RunEvent, RunStatus, TargetKind, Trigger
from cronui.targets import AgentTarget, ShellTarget, to_dict
from cronui.timefmt import duration_field
from cronui.ui.bridge import EngineBridge
from cronui.ui.catalog import Catalog
from cronui.ui.filters import FilterError, parse_filter
from cronui.ui.inflight import InFlight
from cronui.ui.jobform import form_from_job, job_from_form, missing_env
from cronui.ui.screens.run_text import head_text
from cronui.ui.themes import load_themes, theme_from_mapping
from cronui.ui.times import ZoneMode, clock_span, countdown, fire_time, lateness, offset, short_time, zone_for
from cronui.ui.widgets.output import fold_line, pretty
from cronui.ui.widgets.status import StatusStyles, status_class
from tests.helpers import make_job, ms

# ---------------------------------------------------------------- filters


def _jobs() -> list[Job]:
    a = make_job("nightly-backup", tags=["ops", "nightly"])
    a.last_status = RunStatus.FAILED
    b = make_job("research-digest", timezone="Europe/Berlin")
    b.kind = TargetKind.AGENT
    b.last_status = RunStatus.SUCCEEDED
    c = make_job("sync-crm", enabled=False, auto_disabled="10 consecutive failures")
    return [a, b, c]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", ["nightly-backup", "research-digest", "sync-crm"]),
        ("backup", ["nightly-backup"]),
        ("status:failed", ["nightly-backup"]),
        ("status:failed,succeeded", ["nightly-backup", "research-digest"]),
        ("kind:agent", ["research-digest"]),
        ("tag:ops", ["nightly-backup"]),
        ("-tag:ops", ["research-digest", "sync-crm"]),
        ("!status:succeeded kind:shell", ["nightly-backup", "sync-crm"]),
        ("status:disabled", ["sync-crm"]),
        ("status:auto", ["sync-crm"]),
        ("zone:berlin", ["research-digest"]),
        ("name:SYNC", ["sync-crm"]),
        ("kind:shell tag:ops backup", ["nightly-backup"]),
    ],
)
def test_filter_grammar_on_jobs(text: str, names: list[str]) -> None:
    flt = parse_filter(text)
    assert [j.name for j in _jobs() if flt.matches_job(j)] == names


def test_paused_is_a_job_state() -> None:
    flt = parse_filter("status:paused")
    assert [j.name for j in _jobs() if flt.matches_job(j, paused=True)] == ["nightly-backup", "research-digest"]
    assert not [j for j in _jobs() if flt.matches_job(j, paused=False)]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("colour:red", "unknown key 'colour'"),
        ("status:broken", "unknown status 'broken'"),
        ("kind:ftp", "unknown kind 'ftp'"),
        ("status:", "needs a value"),
        ('"unclosed', "No closing quotation"),
        ("trigger:manual", "applies to runs"),
    ],
)
def test_bad_filters_name_the_problem(text: str, error: str) -> None:
    with pytest.raises(FilterError, match=error):
        parse_filter(text)


def test_filter_on_runs() -> None:
    job = _jobs()[0]
    job.id = 1
    run = Run(job_id=1, trigger=Trigger.MANUAL, scheduled_for=0, status=RunStatus.FAILED, job_name=job.name)
    assert parse_filter("status:failed trigger:manual tag:ops backup", for_runs=True).matches_run(run, job)
    assert not parse_filter("trigger:schedule", for_runs=True).matches_run(run, job)
    assert parse_filter("status:failed,timed_out", for_runs=True).run_statuses() == [
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
    ]
    with pytest.raises(FilterError):
        parse_filter("status:paused", for_runs=True)


# ---------------------------------------------------------------- time texts


def test_time_texts() -> None:
    now = ms("2026-03-02T09:00:00Z")
    assert countdown(now + 41_000, now) == "in 00:41"
    assert countdown(now + (14 * 60 + 2) * 60_000, now) == "in 14h02m"
    assert countdown(now + 3 * 86_400_000 + 4 * 3_600_000, now) == "in 3d04h"
    assert countdown(now - 1, now) == "due"
    assert countdown(None, now) == "—"
    assert clock_span(12_400) == "00:12"
    assert clock_span(3_723_000) == "1:02:03"
    assert offset(4) == "+0.004s"
    assert offset(12_300) == "+12.3s"
    assert offset(185_000) == "+3m05s"
    assert lateness(now, now + 4) == "late 4 ms"
    assert lateness(now, now) == "on time"
    assert lateness(now, now + 2_500) == "late 2.5 s"
    assert short_time(now, "Europe/Berlin", now) == "Mon 10:00:00"
    assert short_time(now - 20 * 86_400_000, "UTC", now) == "10 Feb 09:00"
    assert short_time(now - 400 * 86_400_000, "UTC", now) == "2025-01-26"
    assert fire_time(now, "Europe/Berlin") == "Mon 02 Mar 10:00 CET"
    assert fire_time(now + 30_000, "UTC") == "Mon 02 Mar 09:00:30 UTC"


def test_zone_modes_cycle() -> None:
    assert [m.value for m in (ZoneMode.JOB, ZoneMode.JOB.next(), ZoneMode.JOB.next().next())] == ["job", "local", "utc"]
    assert ZoneMode.UTC.next() is ZoneMode.JOB
    assert zone_for(ZoneMode.JOB, "Asia/Tokyo", "Europe/Berlin") == "Asia/Tokyo"
    assert zone_for(ZoneMode.LOCAL, "Asia/Tokyo", "Europe/Berlin") == "Europe/Berlin"
    assert zone_for(ZoneMode.UTC, "Asia/Tokyo", "Europe/Berlin") == "UTC"


# ---------------------------------------------------------------- the editor's form


def test_form_round_trip_keeps_every_field(settings: Settings) -> None:
    job = make_job(
        "backup",
        schedule="30 2 * * *",
        command="restic backup ~",
        timezone="Europe/Berlin",
        max_retries=2,
        retry_delay_s=300,
        timeout_s=3600,
        pool=None,
        tags=["ops", "nightly"],
        on_success=["report"],
        delivery={"mode": "on_failure", "to": "${env:SLACK_HOOK}", "format": "slack"},
    )
    assert isinstance(job.target, ShellTarget)
    job.target.env = {"A": "1", "B": "two words"}
    job.target.cwd = "/srv"
    values = form_from_job(job, settings)
    assert values["retry_delay"] == "5m" and values["timeout"] == "1h"
    back = job_from_form(values, job)
    assert back == job


def test_new_job_defaults_follow_the_settings(settings: Settings) -> None:
    settings.timezone = "Europe/Berlin"
    values = form_from_job(None, settings)
    values.update(name="x", command="true")
    job = job_from_form(values, None)
    assert (job.timezone, job.timeout_s, job.source, job.kind) == ("Europe/Berlin", 600.0, "tui", TargetKind.SHELL)
    assert to_dict(job.target) == {"command": "true"}


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("timeout", "soon", "timeout: expected a duration"),
        ("retries", "many", "retries: expected a whole number"),
        ("retries", "1000", "retries: expected 0 to 100"),
        ("env", "NOEQUALS", "env: expected KEY=VALUE"),
        ("deliver", "always", "deliver to: say where"),
    ],
)
def test_form_errors_name_the_field(settings: Settings, field: str, value: str, error: str) -> None:
    values = form_from_job(None, settings)
    values.update(name="x", command="true", **{field: value})
    with pytest.raises(JobError, match=error):
        job_from_form(values, None)


def test_http_and_agent_targets(settings: Settings) -> None:
    values = form_from_job(None, settings)
    values.update(name="h", kind=TargetKind.HTTP, url="https://x.test/health", headers="Accept: json; X-Key: ${env:K}")
    job = job_from_form(values, None)
    assert to_dict(job.target) == {
        "method": "GET",
        "url": "https://x.test/health",
        "headers": {"Accept": "json", "X-Key": "${env:K}"},
    }
    values.update(kind=TargetKind.AGENT, base_url="http://127.0.0.1:11434/v1", model="m", message="hi {job}")
    values["api_key_env"] = "OPENAI_API_KEY"
    job = job_from_form(values, None)
    assert isinstance(job.target, AgentTarget)
    assert job.target.api_key_env == "OPENAI_API_KEY"
    values["message"] = ""
    with pytest.raises(JobError, match="message: needed"):
        job_from_form(values, None)


def test_missing_env_references_are_flagged(settings: Settings) -> None:
    values = form_from_job(None, settings)
    values.update(command="curl ${env:HOOK} ${env:HOME}", deliver_to="${env:SLACK}")
    assert missing_env(values, {"HOME": "/root"}) == ["HOOK", "SLACK"]
    values.update(kind=TargetKind.AGENT, message="x", api_key_env="OPENAI_API_KEY", deliver_to="")
    assert missing_env(values, {}) == ["OPENAI_API_KEY"]


def test_duration_field() -> None:
    assert [duration_field(s) for s in (30, 600, 5400, 7200, 1.5)] == ["30s", "10m", "90m", "2h", "1.5s"]


# ---------------------------------------------------------------- themes


def test_shipped_themes_load_and_carry_status_colours() -> None:
    loaded = load_themes()
    names = {t.name for t in loaded.themes}
    assert {"cronui-dark", "cronui-light", "cronui-dusk"} <= names
    assert not loaded.problems
    for theme in loaded.themes:
        assert {"run-succeeded", "run-failed", "run-running", "run-skipped"} <= set(theme.variables)


def test_a_bad_theme_file_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text('name = "mine"\nprimary = "#112233"\n[variables]\nrun-failed = "#ff0000"\n')
    (tmp_path / "broken.toml").write_text("name = \n")
    (tmp_path / "nocolour.toml").write_text('name = "x"\nprimary = "not-a-colour"\n')
    loaded = load_themes(extra_dirs=[tmp_path])
    mine = next(t for t in loaded.themes if t.name == "mine")
    assert mine.variables["run-failed"] == "#ff0000" and mine.variables["run-succeeded"]
    assert sorted(p.split(":")[0] for p in loaded.problems) == ["broken.toml", "nocolour.toml"]
    assert any("'not-a-colour' is not a colour" in p for p in loaded.problems)


def test_theme_mapping_errors() -> None:
    with pytest.raises(ValueError, match="`primary` is missing"):
        theme_from_mapping({"name": "x"}, "f")
    with pytest.raises(ValueError, match="unknown key 'primry'"):
        theme_from_mapping({"name": "x", "primry": "#fff"}, "f")


# ---------------------------------------------------------------- catalog and runs in flight


def test_catalog_next_fire_and_strips() -> None:
    cat = Catalog()
    a, b = make_job("a", id=1, next_run_at=500), make_job("b", id=2, next_run_at=200)
    c = make_job("c", id=3, next_run_at=100, enabled=False)
    cat.replace_all([a, b, c])
    nxt = cat.next_fire()
    assert nxt is not None and nxt[1].name == "b"
    assert cat.missing_strips([1, 2]) == [1, 2]
    assert cat.missing_strips([1, 2]) == []  # asked once
    cat.set_strips({1: [RunStatus.SUCCEEDED] * 20})
    cat.add_outcome(1, RunStatus.FAILED)
    assert len(cat.strips[1]) == 20 and cat.strips[1][-1] is RunStatus.FAILED
    cat.remove(2)
    nxt = cat.next_fire()
    assert nxt is not None and nxt[1].name == "a"


def test_inflight_follows_a_run_from_queued_to_finished() -> None:
    live = InFlight(lambda job_id: "job")
    ev = [
        RunEvent(EventKind.QUEUED, 1000, 7, 1, "backup", data={"trigger": "manual"}),
        RunEvent(EventKind.STARTED, 1004, 7, 1, "backup", data={"trigger": "manual", "attempt": 1}),
        RunEvent(EventKind.MILESTONE, 1010, 7, 1, "backup", "process-started", {"pid": 4}),
        RunEvent(EventKind.OUTPUT, 1020, 7, 1, "backup", "stdout", {"text": "one\ntwo\n"}),
    ]
    assert live.apply(ev)
    run = live.runs[7]
    assert run.status is RunStatus.RUNNING and run.milestones[0].name == "process-started"
    assert run.last_line == "two" and live.running == 1
    live.apply([RunEvent(EventKind.FINISHED, 2000, 7, 1, "backup", data={"status": "succeeded", "duration_ms": 996})])
    assert not live.runs and live.recent[0].status is RunStatus.SUCCEEDED
    # a slot skipped before it started was never in flight
    live.apply(
        [
            RunEvent(EventKind.QUEUED, 3000, 8, 1, "backup"),
            RunEvent(EventKind.FINISHED, 3000, 8, 1, "backup", data={"status": "skipped"}),
        ]
    )
    assert len(live.recent) == 1


# ---------------------------------------------------------------- the bridge batches


class _Target:
    def __init__(self) -> None:
        self.messages: list[object] = []

    def post_message(self, message: object) -> bool:
        self.messages.append(message)
        return True


def test_bridge_posts_one_message_per_batch_and_merges_output() -> None:
    target = _Target()
    bridge = EngineBridge(target, None, None)  # type: ignore[arg-type]
    events = [RunEvent(EventKind.OUTPUT, i, 1, 1, "j", "stdout", {"text": f"{i}\n"}) for i in range(5000)]
    events.append(RunEvent(EventKind.MILESTONE, 5000, 1, 1, "j", "done"))
    for ev in events:
        bridge._deliver([ev])
    assert len(target.messages) == 1  # one message waits; everything else joins the batch
    batch = bridge.take()
    assert [e.kind for e in batch] == [EventKind.OUTPUT, EventKind.MILESTONE]
    assert batch[0].data["text"].count("\n") == 5000
    bridge._deliver([events[-1]])
    assert len(target.messages) == 2  # re-armed by take()


def test_events_arrived_replaces_a_queued_one() -> None:
    a, b = EngineBridge.EventsArrived(), EngineBridge.EventsArrived()
    assert a.can_replace(b)
    assert not a.can_replace(EngineBridge.SchedulerChanged())


async def test_bridge_reads_the_log_when_another_process_schedules(store, settings) -> None:  # type: ignore[no-untyped-def]
    from cronui.engine.engine import Engine

    engine = Engine(store, settings)  # not holding: attached
    target = _Target()
    bridge = EngineBridge(target, store, engine)
    await store.append_events([RunEvent(EventKind.PAUSED, 1)])
    await bridge.prime()
    task = asyncio.create_task(bridge.run())
    try:
        await store.append_events([RunEvent(EventKind.RESUMED, 2)])
        for _ in range(200):
            if any(isinstance(m, EngineBridge.EventsArrived) for m in target.messages):
                break
            await asyncio.sleep(0.01)
        assert [e.kind for e in bridge.take()] == [EventKind.RESUMED]  # only what came after it started
        assert bridge.owning is False
    finally:
        task.cancel()


def test_output_folds_long_lines_at_words_and_pretty_prints_json() -> None:
    assert fold_line("the quick brown fox jumps over the lazy dog", 16) == [
        "the quick brown",
        "fox jumps over",
        "the lazy dog",
    ]
    assert fold_line("x" * 20, 8) == ["x" * 8, "x" * 8, "x" * 4]
    # an early space still breaks when that keeps the next word whole (milestone data: key=value words)
    assert fold_line("chars=41 finish_reason=stop", 26) == ["chars=41", "finish_reason=stop"]
    assert fold_line("ab " + "y" * 30, 12) == ["ab yyyyyyyyy", "y" * 12, "y" * 9]  # no word to keep whole
    assert pretty('{"a": [1, 2]}') == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert pretty("not json {") == "not json {"


def test_catalog_next_fire_follows_changes_to_the_first_job() -> None:
    cat = Catalog()
    cat.replace_all([make_job("a", id=1, next_run_at=500), make_job("b", id=2, next_run_at=200)])
    assert (nxt := cat.next_fire()) is not None and (nxt[0], nxt[1].name) == (200, "b")
    cat.upsert(make_job("b", id=2, next_run_at=900))  # b fired: its next slot moved on
    assert (nxt := cat.next_fire()) is not None and (nxt[0], nxt[1].name) == (500, "a")
    cat.upsert(make_job("a", id=1, next_run_at=500, enabled=False))
    assert (nxt := cat.next_fire()) is not None and nxt[1].name == "b"
    cat.remove(2)
    assert cat.next_fire() is None


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_catalog_names_survive_two_jobs_swapping_them(order: tuple[int, int]) -> None:
    """Both jobs are read again after one change; in whichever order they arrive, each name finds its job."""
    cat = Catalog()
    cat.replace_all([make_job("a", id=1), make_job("b", id=2)])
    swapped = {1: make_job("b", id=1), 2: make_job("a", id=2)}
    for job_id in order:
        cat.upsert(swapped[job_id])
    assert {name: job.id for name, job in cat.by_name.items()} == {"a": 2, "b": 1}


def test_catalog_keeps_a_freed_name_for_the_job_that_took_it() -> None:
    cat = Catalog()
    cat.replace_all([make_job("x", id=3)])
    cat.upsert(make_job("x", id=5))  # a new job with the name, read before the old one's removal
    cat.remove(3)
    assert cat.by_name["x"].id == 5


@pytest.mark.parametrize(
    ("status", "component"),
    [
        (RunStatus.SUCCEEDED, "status--succeeded"),
        (RunStatus.TIMED_OUT, "status--failed"),
        ("failed", "status--failed"),  # a status as text (a finished event's data, a timeline row)
        ("pending", "status--running"),
        ("setup-completed", "status--dim"),  # a milestone's name is no status
        (None, "status--dim"),  # a run with no status yet
    ],
)
def test_status_colours_by_component_class(status: RunStatus | str | None, component: str) -> None:
    assert status_class(status) == component


class PlainStyles(StatusStyles):
    """Colours do not matter here: every status and component plain."""

    def status_style(self, status: RunStatus | str | None) -> Style:
        return Style()

    def component_style(self, name: str) -> Style:
        return Style()


def test_run_head_wraps_between_its_parts_and_gives_the_scheduled_day_once() -> None:
    at = ms("2026-03-02T08:00:00")
    run = Run(
        job_id=1,
        trigger=Trigger.SCHEDULE,
        scheduled_for=at,
        id=24,
        job_name="digest",
        status=RunStatus.SUCCEEDED,
        started_at=at + 21,
        finished_at=at + 51_210,
        duration_ms=51_189,
        node="demo-host:4242:a1b2c3",
    )
    lines = head_text(run, None, at, "Europe/Berlin", PlainStyles(), 78).plain.splitlines()
    assert lines[1:] == [
        "trigger schedule · attempt 1 · scheduled 2026-03-02 09:00:00.000 CET",
        "started 09:00:00.021 (late 21 ms) · finished 09:00:51.210",
        "node demo-host:4242:a1b2c3",
    ]
    assert all(len(line) <= 78 for line in lines)
    overnight = replace(run, finished_at=at + 16 * 3_600_000)  # ends the next day: its date is given
    assert (
        "finished 2026-03-03 01:00:00.000 CET" in head_text(overnight, None, at, "Europe/Berlin", PlainStyles()).plain
    )


def test_inflight_shows_a_streamed_reply_so_far_not_its_last_token() -> None:
    live = InFlight(lambda job_id: "job")
    live.apply([RunEvent(EventKind.STARTED, 1000, 9, 1, "digest", data={"trigger": "manual"})])
    for at, token in enumerate(["Hello", " from", " the", " model."]):
        live.apply([RunEvent(EventKind.OUTPUT, 1001 + at, 9, 1, "digest", "stdout", {"text": token})])
    assert live.runs[9].last_line == "Hello from the model."
    live.apply([RunEvent(EventKind.OUTPUT, 1010, 9, 1, "digest", "stdout", {"text": "\n\nSecond", "x": 1})])
    live.apply([RunEvent(EventKind.OUTPUT, 1011, 9, 1, "digest", "stdout", {"text": " paragraph"})])
    assert live.runs[9].last_line == "Second paragraph"
    live.apply([RunEvent(EventKind.OUTPUT, 1012, 9, 1, "digest", "stdout", {"text": "x" * 10_000})])
    assert len(live.runs[9].tails["stdout"]) <= 4096, "what is kept of a run's output is bounded"
