"""`--alert-after N` / `--alert-cooldown` as alert episodes of kind `failure`, sent through the outbox like
every other kind: one episode after N failures in a row (its key: the run that made it N), quiet for the
cooldown, then a new episode per repeat while the job keeps failing (the one before closed quietly: it
recovered from nothing); an auto-disabled job always says so; the job's next success closes the episode,
which sends its "recovered". What is said is decided by `delivery.decide_alert`, as before the outbox.
"""

from __future__ import annotations

from cronui.engine import delivery
from cronui.engine.alerts import RECOVERED_TEXT, raise_alert
from cronui.model import Job, Run
from cronui.model.alerts import AlertKind, job_subject
from cronui.store.base import Store


async def record(store: Store, job: Job, run: Run, failures: int, auto_disabled: str | None, now: int) -> bool:
    """Open or close the job's `failure` episode after its final attempt ended; True when one was opened or
    closed (its notice is then routed and sent)."""
    assert job.id is not None
    episodes = [e for e in await store.open_alert_episodes([job.id]) if e.kind is AlertKind.FAILURE]
    state = {"alerting": True, "last_alert_at": episodes[-1].opened_at} if episodes else None
    decision = delivery.decide_alert(job, run, failures, auto_disabled, state, now)
    if decision is None:
        return False
    changed = False
    for e in episodes:
        assert e.id is not None
        if decision.state is None:  # recovered
            changed |= await store.close_alert_episode(e.id, now, {**e.data, RECOVERED_TEXT: decision.text})
        else:  # a repeat, or the job auto-disabled: the one before makes way for it
            await store.close_alert_episode(e.id, now, quiet=True)
    if decision.state is not None:
        data = {"run_id": run.id, "failures": failures, "auto_disabled": auto_disabled}
        changed = await raise_alert(
            store, job_subject(job.id), AlertKind.FAILURE, str(run.id), decision.text, data, job.id, now=now
        )
    return changed
