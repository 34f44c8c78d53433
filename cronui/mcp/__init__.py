"""The MCP face: cronui's jobs and runs as Model Context Protocol tools and resources, for a desktop MCP
client or an agent runtime (the official `mcp` SDK's MCPServer).

- `callers`   who asks: over stdio the host's user held to the policy (or a token's scope), over HTTP the
              caller the API's guard authenticated
- `server`    the server: each tool a thin call into `cronui.application`, a refusal as a tool error in the
              CLI's words, the resources `cronui://jobs/{name}` and `cronui://runs/{id}`
- `job_tools`, `run_tools`  the tools, by what they act on
- `transports` `cronui mcp` over stdio, and the streamable HTTP app `cronui serve` mounts at /mcp

It calls the application layer the other faces use and imports no other face."""
