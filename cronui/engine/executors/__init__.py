"""One module per job kind (`shell.py`, `http.py`, `agent.py`), each an async `run(ctx) -> Outcome`;
`base.py` holds what they share: the RunContext they get and the Outcome they return. Executors know
nothing of storage."""
