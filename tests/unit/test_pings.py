"""What a ping writes (`engine.pings.plan_ping`), as a pure function of the job, its schedule and the time; and
how the API's path names a ping's kind."""

from __future__ import annotations

import pytest

from cronui.application.pings import parse_kind
from cronui.engine.pings import MESSAGE_CAP, Ping, PingKind, plan_ping
from cronui.jobs import JobError
from cronui.model import RunStatus, Trigger
from cronui.schedule import parse
from tests.helpers import make_job, ms

SLOT = ms("2026-03-02T09:00:00Z")


def check(schedule: str = "* * * * *", next_run_at: int = SLOT):
    job = make_job("c", schedule, command="", is_check=True, id=1)
    job.next_run_at = next_run_at
    return job, parse(schedule, "UTC")


def test_a_ping_a_little_before_a_slot_answers_it_within_a_quarter_of_the_period() -> None:
    job, schedule = check()  # every minute: 15 s early at most
    early = plan_ping(job, schedule, Ping(PingKind.SUCCESS), SLOT - 10_000)
    assert early.settles and early.run.scheduled_for == SLOT and early.next_run_at == SLOT + 60_000
    too_early = plan_ping(job, schedule, Ping(PingKind.SUCCESS), SLOT - 20_000)
    assert not too_early.settles and too_early.run.scheduled_for == SLOT - 20_000


def test_a_ping_after_several_slots_answers_the_newest_and_writes_the_rest_missed() -> None:
    job, schedule = check("0 * * * *")
    now = SLOT + 3 * 3_600_000 + 5_000
    write = plan_ping(job, schedule, Ping(PingKind.START), now)
    assert write.settles and write.expected == SLOT and write.next_run_at == SLOT + 4 * 3_600_000
    assert write.run.scheduled_for == SLOT + 3 * 3_600_000 and write.run.status is RunStatus.RUNNING
    assert [(r.scheduled_for, r.status, r.reason, r.queued_at) for r in write.missed] == [
        (SLOT + h * 3_600_000, RunStatus.SKIPPED, "missed", now) for h in range(3)
    ]
    assert write.run.lease_expires_at == now + int(job.timeout_s * 1000)


def test_a_disabled_check_or_one_with_no_next_fire_keeps_pings_as_history() -> None:
    job, schedule = check()
    job.enabled = False
    assert not plan_ping(job, schedule, Ping(PingKind.SUCCESS), SLOT).settles
    job, _ = check()
    assert not plan_ping(job, None, Ping(PingKind.SUCCESS), SLOT).settles


def test_an_end_ping_says_how_it_ended_and_keeps_the_tail_of_its_message() -> None:
    job, schedule = check()
    text = "x" * MESSAGE_CAP + "\nboom\x00last line"
    write = plan_ping(job, schedule, Ping(PingKind.FAIL, exit_code=2, message=text, duration_ms=1500), SLOT)
    run = write.run
    assert (run.trigger, run.status, run.exit_code, run.duration_ms) == (Trigger.PING, RunStatus.FAILED, 2, 1500)
    assert len(run.output) == MESSAGE_CAP and run.output.endswith("\nboom\ufffdlast line")
    assert run.started_at == SLOT - 1500 and run.finished_at == SLOT and write.closes
    assert run.error == "boom\ufffdlast line"
    ok = plan_ping(job, schedule, Ping(PingKind.SUCCESS), SLOT).run
    assert ok.status is RunStatus.SUCCEEDED and ok.error is None


@pytest.mark.parametrize(
    ("word", "kind", "code"),
    [
        ("", PingKind.SUCCESS, None),
        ("start", PingKind.START, None),
        ("fail", PingKind.FAIL, None),
        ("0", PingKind.SUCCESS, 0),
        ("1", PingKind.FAIL, 1),
        ("255", PingKind.FAIL, 255),
    ],
)
def test_the_kinds_a_ping_path_names(word: str, kind: PingKind, code: int | None) -> None:
    ping = parse_kind(word)
    assert (ping.kind, ping.exit_code) == (kind, code)


@pytest.mark.parametrize("word", ["256", "-1", "success!", "START", "1e3", "٣"])
def test_other_words_are_refused_naming_the_field(word: str) -> None:
    with pytest.raises(JobError, match="expected start, fail or an exit code 0-255"):
        parse_kind(word)
