"""An agent job's gate: a shell check run before the model is asked (exit 0: ask it, with the check's
output as {gate_output}; 1: nothing to do, the run is skipped; anything else fails the run)."""

from __future__ import annotations

import dataclasses
from typing import Any

from cronui.engine.executors import shell
from cronui.engine.executors.base import Outcome, RunContext
from cronui.model import REASON_GATE, RunStatus, TargetKind
from cronui.targets import ShellTarget

GATE_OPEN, GATE_CLOSED = 0, 1  # the gate's exit codes: ask the model / nothing to do; any other fails the run


async def run_gate(ctx: RunContext, command: str) -> str | Outcome:
    """Run the job's gate, a shell check, as a shell job runs (own process group, stopped with the run):
    its stdout when it exits 0, else the run's outcome (skipped on 1, failed on anything else). Its
    stderr becomes the run's; its milestones are the run's, named gate-*."""
    check = dataclasses.replace(ctx.job, kind=TargetKind.SHELL, target=ShellTarget(command=command))

    def on_milestone(name: str, data: dict[str, Any]) -> None:
        if name == "process-started":  # the command is the job's gate; the run's request is the model's
            ctx.milestone("gate-started", **{k: v for k, v in data.items() if k != "request"})
        elif name != "process-exited":  # the gate's verdict below says it
            ctx.milestone(f"gate-{name}", **data)

    def on_output(stream: str, text: str) -> None:
        if stream == "stderr":
            ctx.output("stderr", text.encode())

    sub = RunContext(
        job=check,
        run=ctx.run,
        output_cap=ctx.output_cap,
        on_milestone=on_milestone,
        on_output=on_output,
        env=ctx.env,
        kill_grace_s=ctx.kill_grace_s,
        secrets_used=ctx.secrets_used,
    )
    outcome = await shell.run(sub)
    sub.end_output()
    if outcome.status is RunStatus.SUCCEEDED:
        ctx.milestone("gate-open", exit_code=GATE_OPEN, output_bytes=sub.stdout.total)
        return sub.stdout.text().rstrip("\n")
    if outcome.exit_code == GATE_CLOSED:
        ctx.milestone("gate-closed", exit_code=GATE_CLOSED)
        return Outcome(
            RunStatus.SKIPPED,
            exit_code=GATE_CLOSED,
            fields={"reason": REASON_GATE},
            suppress_delivery="the gate found nothing to do",
        )
    ctx.milestone("gate-failed", exit_code=outcome.exit_code, signal=outcome.signal)
    return dataclasses.replace(outcome, error=f"the gate failed: {outcome.error}")
