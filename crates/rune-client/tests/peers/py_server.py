#!/usr/bin/env python3
"""An MCP server written with the official Python SDK (PyPI `mcp`, its `MCPServer`), for
rune-client's interop tests.

Usage:
    py_server.py                 serve on stdio
    py_server.py --http PORT     serve Streamable HTTP on http://127.0.0.1:PORT/mcp

Run it with the interpreter of the venv made by scripts/install-test-peers.sh (RUNE_PEERS_PY).
"""

from __future__ import annotations

import argparse
import warnings

from typing import Annotated

from pydantic import BaseModel, Field

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer

warnings.simplefilter("ignore")  # the handshake-era features are deprecated in 2026-07-28

mcp = MCPServer("py-fixture", version="2.3.0-test", instructions="Python SDK fixture server.")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@mcp.tool()
def route(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
    limit: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Limit"})],
    query: str,
) -> str:
    """Routes a query; over HTTP in 2026-07-28 `region` and `limit` come in Mcp-Param-* headers too."""
    return f"{region}/{limit}: {query}"


@mcp.tool()
async def progress(ctx: Context, steps: int = 3) -> str:
    """Reports progress `steps` times."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i}")
    return f"done {steps}"


@mcp.tool()
async def log(ctx: Context, text: str) -> str:
    """Sends a log message, then returns."""
    await ctx.info(text)
    return "logged"


class Preferences(BaseModel):
    color: str = "blue"
    count: int = 3


@mcp.tool()
async def ask(ctx: Context) -> str:
    """Asks the user for preferences (elicitation)."""
    r = await ctx.elicit("Your preferences?", Preferences)
    if r.action != "accept":
        return r.action
    return f"{r.data.color} x{r.data.count}"


@mcp.tool()
async def sample(ctx: Context, prompt: str) -> str:
    """Asks the client's model (sampling)."""
    r = await ctx.session.create_message(
        messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))],
        max_tokens=50,
        related_request_id=ctx.request_id,
    )
    text = r.content.text if isinstance(r.content, types.TextContent) else "?"
    return f"{r.model}: {text}"


@mcp.tool()
async def roots(ctx: Context) -> str:
    """Lists the client's roots."""
    r = await ctx.session.list_roots()
    return ",".join(str(root.uri) for root in r.roots)


@mcp.resource("test://hello", mime_type="text/plain")
def hello() -> str:
    """A fixed text."""
    return "hello from python"


@mcp.resource("test://items/{item}")
def item(item: str) -> str:
    """One item."""
    return f"item {item}"


@mcp.prompt()
def greet(name: str) -> str:
    """Greets someone."""
    return f"Hello, {name}!"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT")
    args = parser.parse_args()
    if args.http is None:
        mcp.run()
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
