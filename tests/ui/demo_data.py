"""Fixed, seeded demo data: the jobs and runs the screenshots and the snapshot tests show (developer
tooling, not part of the installed package).

Everything is derived from `now_ms` and a seeded random generator, so the same call always writes the
same database. Two runs are left in flight, owned by `node` (pass the engine's node, so the engine that
opens this database does not take them for orphans of a dead scheduler).
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime

from cronui.model import (
    EventKind,
    Job,
    Milestone,
    MisfirePolicy,
    OverlapPolicy,
    Run,
    RunEvent,
    RunStatus,
    TargetKind,
    Trigger,
)
from cronui.schedule import parse
from cronui.store.base import Store
from cronui.targets import AgentTarget, HttpTarget, ShellTarget
from tests.ui.demo_alerts import seed_alerts

DEMO_NOW = int(datetime(2026, 3, 2, 9, 0, 12, tzinfo=UTC).timestamp() * 1000)  # a Monday, 10:00:12 in Berlin
DEMO_NODE = "demo-host:4242:a1b2c3"
DEMO_DB = "~/.local/share/cronui/cronui.db"

_AGENT = {
    "base_url": "http://127.0.0.1:11434/v1",
    "model": "llama3.1:8b",
    "api_key_env": "OPENAI_API_KEY",
    "message": "Summarise what changed in {job} since {scheduled_for}",
}

JOBS: list[Job] = [
    Job(
        "research-digest",
        "0 9 * * 1-5",
        "Europe/Berlin",
        TargetKind.AGENT,
        dict(_AGENT),
        tags=["research"],
        max_retries=2,
        delivery={"mode": "always", "to": "${env:SLACK_HOOK}", "format": "slack"},
        description="The morning digest, posted to the team channel",
    ),
    Job(
        "health-api",
        "*/5 * * * *",
        "UTC",
        TargetKind.HTTP,
        {"method": "GET", "url": "https://api.example.com/health"},
        tags=["ops"],
        timeout_s=10,
    ),
    Job(
        "nightly-backup",
        "30 2 * * *",
        "Europe/Berlin",
        TargetKind.SHELL,
        {"command": "restic backup ~/work"},
        tags=["ops", "nightly"],
        max_retries=2,
        retry_delay_s=300,
        timeout_s=3600,
    ),
    Job(
        "report-weekly",
        "0 8 * * 1",
        "America/New_York",
        TargetKind.AGENT,
        {**_AGENT, "message": "Write the weekly report for {job}"},
        tags=["research"],
    ),
    Job(
        "sync-crm",
        "every 15m",
        "UTC",
        TargetKind.SHELL,
        {"command": "./bin/sync-crm --since 15m"},
        enabled=False,
        auto_disabled="10 consecutive failures (last: exited with code 1)",
        consecutive_failures=10,
        tags=["sales"],
    ),
    Job(
        "cleanup-tmp",
        "0 3 * * 0",
        "UTC",
        TargetKind.SHELL,
        {"command": "find /var/tmp/app -mtime +7 -delete"},
        enabled=False,
        tags=["ops"],
    ),
    Job(
        "invoice-run",
        "0 6 1 * *",
        "Europe/London",
        TargetKind.HTTP,
        {"method": "POST", "url": "https://billing.example.com/runs", "body": '{"period": "last-month"}'},
        misfire=MisfirePolicy.RUN_ALL,
        tags=["billing"],
    ),
    Job(
        "warehouse-export",
        "0 * * * *",
        "UTC",
        TargetKind.SHELL,
        {"command": "./bin/export --since 1h --to s3://warehouse/orders/"},
        tags=["data"],
        overlap=OverlapPolicy.QUEUE,
    ),
    Job(
        "db-vacuum",
        "15 4 * * *",
        "UTC",
        TargetKind.SHELL,
        {"command": "psql -c 'VACUUM ANALYZE'"},
        tags=["ops", "nightly"],
    ),
]

_PERIOD_MS = {
    "research-digest": 86_400_000,
    "health-api": 300_000,
    "nightly-backup": 86_400_000,
    "report-weekly": 7 * 86_400_000,
    "sync-crm": 900_000,
    "cleanup-tmp": 7 * 86_400_000,
    "invoice-run": 30 * 86_400_000,
    "db-vacuum": 86_400_000,
    "warehouse-export": 3_600_000,
}
_DURATION_MS = {
    "research-digest": 41_000,
    "health-api": 180,
    "nightly-backup": 760_000,
    "report-weekly": 95_000,
    "sync-crm": 2_300,
    "cleanup-tmp": 1_200,
    "invoice-run": 850,
    "db-vacuum": 48_000,
    "warehouse-export": 31_000,
}


def _history(job: Job, rng: random.Random, now: int) -> list[Run]:
    """About twenty finished runs, oldest first, on the job's period, with a plausible mix of outcomes."""
    assert job.id is not None
    count = 24 if job.name != "sync-crm" else 22
    runs: list[Run] = []
    sched = parse(job.schedule, job.timezone, now_ms=now)
    fires = [t for t in sched.next_n(now - count * _PERIOD_MS[job.name] * 2, count * 3) if t < now - 60_000]
    if job.name == "warehouse-export":
        fires = fires[:-1]  # this hour's slot is running right now
    for i, slot in enumerate(fires[-count:]):
        if job.name == "sync-crm":
            status = RunStatus.FAILED if i >= count - 10 else RunStatus.SUCCEEDED
        elif job.name == "nightly-backup" and i == count - 4:
            status = RunStatus.FAILED
        elif job.name == "health-api" and i in (7, 8):
            status = RunStatus.TIMED_OUT if i == 7 else RunStatus.FAILED
        elif job.name == "research-digest" and i == count - 6:
            status = RunStatus.SKIPPED
        else:
            status = RunStatus.FAILED if rng.random() < 0.05 else RunStatus.SUCCEEDED
        started = slot + rng.randint(2, 40)
        duration = int(_DURATION_MS[job.name] * rng.uniform(0.8, 1.25))
        run = Run(
            job_id=job.id,
            trigger=Trigger.SCHEDULE,
            scheduled_for=slot,
            status=status,
            queued_at=slot,
            not_before=slot,
            node=DEMO_NODE,
        )
        if status is RunStatus.SKIPPED:
            run.reason = "missed (no scheduler was running)"
            run.finished_at = slot + 3_600_000
            runs.append(run)
            continue
        run.started_at = started
        run.finished_at = started + duration
        run.duration_ms = duration
        run.milestones = _milestones(job, started, duration)
        if job.kind is TargetKind.SHELL:
            run.exit_code = 0 if status is RunStatus.SUCCEEDED else 1
            run.milestones[-1].data["exit_code"] = run.exit_code  # process-exited says what the run says
            run.output = _shell_output(job, status)
            run.output_bytes = len(run.output.encode())
            if status is RunStatus.FAILED:
                run.stderr = "Fatal: unable to open repository: connection refused\n"
                run.stderr_bytes = len(run.stderr.encode())
                run.error = "exited with code 1"
        elif job.kind is TargetKind.HTTP:
            assert isinstance(job.target, HttpTarget)
            run.request = {"method": job.target.method, "url": job.target.url}
            if status is RunStatus.TIMED_OUT:
                run.error = f"timed out after {job.timeout_s:g}s"
                run.milestones.pop()  # no response came
            elif status is RunStatus.FAILED:
                run.http_status = 503
                run.error = "HTTP 503 Service Unavailable"  # as the executor says it
                run.output = '{"status": "degraded", "db": "timeout"}'
                run.milestones[-1].data.update(status=503, bytes=len(run.output))
            else:
                run.http_status = 200
                run.output = '{"status": "ok", "version": "4.12.1", "uptime_s": 864211}'
        else:
            assert isinstance(job.target, AgentTarget)
            prompt = rng.randint(900, 1400)
            completion = rng.randint(250, 520)
            when = datetime.fromtimestamp(slot / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            text = job.target.message.replace("{job}", job.name).replace("{scheduled_for}", when)
            messages = [{"role": "user", "content": text}]
            if job.target.system:
                messages.insert(0, {"role": "system", "content": job.target.system})
            run.request = {  # as the agent executor records it: secrets masked
                "method": "POST",
                "url": f"{job.target.base_url}/chat/completions",
                "headers": {"Content-Type": "application/json", "Authorization": "••••••••"},
                "body": {"model": job.target.model, "messages": messages, "temperature": 0.2},
            }
            run.prompt_tokens, run.completion_tokens = prompt, completion
            run.total_tokens = prompt + completion
            run.cost_usd = round(prompt * 0.000_005 + completion * 0.000_015, 5)
            if status is RunStatus.SUCCEEDED:
                run.output = _REPLY
                run.delivery_status = "delivered" if job.delivery.is_set else None
            else:
                run.error = "HTTP 429 Too Many Requests"
        runs.append(run)
    return runs


def _milestones(job: Job, started: int, duration: int) -> list[Milestone]:
    if job.kind is TargetKind.AGENT:
        names = ["setup-completed", "execution-started", "first-token", "execution-completed", "usage-calculated"]
        if job.delivery.is_set:
            names.append("delivery-completed")
        fractions = [0.0003, 0.001, 0.045, 0.97, 0.971, 0.999]
        return [Milestone(n, started + int(duration * f)) for n, f in zip(names, fractions, strict=False)]
    if job.kind is TargetKind.HTTP:
        return [
            Milestone("request-sent", started + 2),
            Milestone("response-received", started + duration - 1, {"status": 200, "bytes": 61}),
        ]
    assert isinstance(job.target, ShellTarget)
    ran = {"command": job.target.command, "cwd": job.target.cwd or "/home/ops", "env": sorted(job.target.env)}
    return [
        Milestone("process-started", started + 3, {"pid": 41872, "request": ran}),
        Milestone("process-exited", started + duration, {"exit_code": 0}),
    ]


def _shell_output(job: Job, status: RunStatus) -> str:
    if job.name == "nightly-backup":
        lines = [
            "open repository",
            "lock repository",
            "load index files",
            "using parent snapshot 7f3c21ab",
            "start scan on [/home/ops/work]",
            "start backup on [/home/ops/work]",
            "scan finished in 3.214s: 48211 files, 1.204 GiB",
            "Files:         112 new,   301 changed, 47798 unmodified",
            "Added to the repository: 38.112 MiB (12.902 MiB stored)",
            "snapshot 9b1e04d2 saved",
        ]
        return "\n".join(lines if status is RunStatus.SUCCEEDED else lines[:3]) + "\n"
    if job.name == "db-vacuum":
        return "VACUUM\n"
    return ""


_REPLY = """Three items stood out today:
1. The deploy pipeline now runs the migration check before the canary, which caught two bad migrations.
2. Error rates on the billing API fell from 0.8% to 0.1% after the retry fix.
3. The on-call handbook gained a section on restoring from the nightly backup.
"""


async def seed_demo(store: Store, now_ms: int = DEMO_NOW, node: str = DEMO_NODE) -> None:
    """Write the demo jobs, their histories and two runs in flight into an empty, open store."""
    rng = random.Random(5)
    for template in JOBS:
        job = copy.deepcopy(template)
        job.created_at = job.updated_at = now_ms - 60 * 86_400_000
        job.source = "demo"
        if job.enabled:
            job.next_run_at = parse(job.schedule, job.timezone, now_ms=now_ms).next_after(now_ms)
        job = await store.create_job(job)
        history = _history(job, rng, now_ms)
        for run in history:
            await store.insert_run(run)
        finals = [r.status for r in history if r.status is not RunStatus.SKIPPED]
        job.last_status = finals[-1] if finals else None
        trailing = len(finals) - len("".join("x" if f is RunStatus.SUCCEEDED else "-" for f in finals).rstrip("-"))
        job.consecutive_failures = max(job.consecutive_failures, trailing)  # failures in a row, as the engine counts
        await store.update_job(job)
    jobs = {j.name: j for j in await store.list_jobs()}
    await _in_flight(store, jobs["research-digest"], now_ms, node, manual=True)
    await _in_flight(store, jobs["warehouse-export"], now_ms, node, manual=False)
    await seed_alerts(store, jobs, now_ms, node)


async def _in_flight(store: Store, job: Job, now: int, node: str, *, manual: bool) -> None:
    assert job.id is not None
    if manual:
        queued = now - 12_400
        trigger, slot = Trigger.MANUAL, queued
        steps: list[tuple[str, int, dict[str, object]]] = [
            ("setup-completed", 8, {}),
            ("execution-started", 37, {}),
            ("first-token", 1_866, {}),
        ]
        text = "Three items stood out today:\n1. The deploy pipeline now runs the migration check"
    else:
        slot = parse(job.schedule, job.timezone, now_ms=now).next_after(now - 3_600_000) or now
        queued, trigger = slot, Trigger.SCHEDULE
        steps = [("process-started", 3, {"pid": 41872}), ("rows-exported", 8_214, {"rows": 120_000})]
        text = "connecting to warehouse\nexporting orders since 08:00\n120000 rows written\n"
    run = Run(
        job_id=job.id,
        trigger=trigger,
        scheduled_for=slot,
        status=RunStatus.RUNNING,
        queued_at=queued,
        not_before=queued,
        started_at=queued + 4,
        node=node,
        lease_expires_at=now + 30_000,
    )
    await store.insert_run(run)
    assert run.id is not None and run.started_at is not None
    base = run.started_at
    events = [
        RunEvent(EventKind.QUEUED, queued, run.id, job.id, job.name, data={"trigger": str(trigger)}),
        RunEvent(EventKind.STARTED, base, run.id, job.id, job.name, data={"trigger": str(trigger), "attempt": 1}),
    ]
    for name, offset, data in steps:
        events.append(RunEvent(EventKind.MILESTONE, base + offset, run.id, job.id, job.name, name, data))
    events.append(RunEvent(EventKind.OUTPUT, base + 2_000, run.id, job.id, job.name, "stdout", {"text": text}))
    await store.append_events(events)
