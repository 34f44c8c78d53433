"""The HTTP API of `cronui serve`: jobs, runs, stats, the live event stream (SSE) and per-job hooks.

- `access`  the API token, the listen address it guards, and each job's trigger token (stored hashed)
- `app`     the FastAPI application: the endpoints, their errors and the event stream
- `server`  the engine and the ASGI server (Hypercorn) in one process

FastAPI is the stack for the OpenAPI document it derives from the endpoints themselves (served at
/api/v1/openapi.json and checked by a property-based test); Hypercorn serves it (uvicorn would bring
click, and with click installed `import httpx` loads rich for its own CLI, in every process). Loaded only
by `cronui serve`.
"""
