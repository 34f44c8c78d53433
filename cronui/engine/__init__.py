"""The scheduler: one queue of pending runs, fed by schedules, run-now, retries, chains and catch-ups.

- `engine.py`      the loop and the scheduler lease: sleep until something is due, materialize slots
- `scheduler.py`   pure functions: which of a job's slots are due, on time, caught up or missed
- `dispatcher.py`  claims pending runs under the caps and runs each in its own task
- `finishing.py`   what a run's end leads to: retry, job counters, auto-disable, chains, delivery
- `delivery.py`    posting results and alerts to webhooks
- `control.py`     the writes any process may make (add, edit, run now, cancel, pause) and the wake-up
- `events.py`      in-process pub/sub of RunEvents, persisted to the store in batches
- `clock.py`       the injected clock (a fake one in tests runs a week in milliseconds)
- `executors/`     one module per job kind
"""
