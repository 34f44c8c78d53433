"""The Textual TUI. Attributes go down, messages come up; the engine is reached through one road.

- `app.py`       the App: keys, start/stop, folding engine events in, telling screens what changed
- `client.py`    `EngineClient`, the only road to the engine: every read, every write, the wake-up
- `bridge.py`    engine events into the UI in batches (from this process's bus or another's event log)
- `sync.py`      keeps `catalog` (the jobs) and `inflight` (the runs in flight) in step with events
- `messages.py`  the typed messages between the app and its screens
- `context.py`   what each screen is handed; `commands.py` command mode and the palette
- `jobform.py`   the job editor's form <-> Job; `filters.py` the filter grammar; `times.py` times on screen
- `themes.py`    shipped and user themes; `status.py` the header line; `workers.py` background work
- `screens/`, `widgets/`, `cronui.tcss`
"""
