"""The scheduler: one queue of pending runs, fed by schedules, run-now, retries, chains and catch-ups.

- `engine.py`      the loop, the scheduler lease (or, in cluster mode, the node's heartbeat)
- `draining.py`    shutting down: runs finish within the grace, their leases renewed meanwhile
- `recovery.py`    taking over from a gone scheduler: its runs recorded, what it left on this host stopped
- `scheduler.py`   pure functions: which of a job's slots are due, on time, caught up or missed
- `planning.py`    due jobs' plans stored and announced, on-time jobs first, a long catch-up in turns
- `dispatcher.py`  asks the store which runs may start now (Store.claim) and runs each in its own task
- `finishing.py`   what a run's end leads to: retry, chains, delivery; the job's counters are the store's
- `writes.py`      the batched write path (group commit of run ends) and the durability rule
- `faults.py`      database faults: backoff, and what the loop reports while one lasts
- `delivery.py`    posting results to webhooks, and what a failure alert says
- `alerts.py`      alert episodes: the evaluation pass, routing, the outbox of sends; `failure_alerts.py`
                   (--alert-after) and `job_notices.py` (a spent budget, a retry planned) record theirs
- `control.py`     the writes any process may make (add, edit, run now, cancel, pause) and the wake-up
- `events.py`      in-process pub/sub of RunEvents, persisted to the store in batches
- `clock.py`       the injected clock (a fake one in tests runs a week in milliseconds)
- `executors/`     one module per job kind; `containment.py`, `strays.py` and the watchdog keep a run's
                   processes inside its run
"""
